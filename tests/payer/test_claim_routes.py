"""The claim routes of a payer's node on an embedded consortium (Org2 the payer, Org1 the
provider): a FHIR claim and a PAS request through one ``Claim/$submit``, an 837 file answered
by a 999 and a 277CA (pyx12 accepts both), the 835 of the day (pyx12 accepts it; the same
bytes again) and the member's EOBs with the 835's numbers; bad input refused, nothing written."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from careledger.api.app import create_app
from careledger.api.auth import sign_request
from careledger.api.service import NodeService
from careledger.node.consortium import ConsortiumConfig
from careledger.node.network import EmbeddedNetwork
from careledger.payer.claims.remittance import RemittanceDesk
from careledger.payer.claims.routes import EDI_X12, NodeClaimDirectory, add_claim_routes
from careledger.payer.claims_service import ClaimsDesk
from careledger.payer.eligibility import MemoryEligibility
from careledger.payer.ledger_form import ClaimKeyer
from careledger.payer.pas.service import PriorAuthService
from careledger.payer.pas.store import MemoryPasStore
from careledger.payer.routes import add_payer_routes
from careledger.payer.x12.pyx12_check import pyx12_validate
from careledger.sim.payer_workload import benefit_plan, claims_837, coverage, payer_claims
from tests.harness import running
from tests.payer.env import pas_bundle

PAYER, PROVIDER, OUTSIDER = "Org2", "Org1", "Org3"
SECRET = b"payer-member-secret-for-tests-32b"
SYSTEM = "urn:careledger:Org2:member"
NPI = "1912301953"


@dataclass
class Node:
    net: EmbeddedNetwork
    consortium: ConsortiumConfig
    http: httpx.AsyncClient
    desk: ClaimsDesk
    directory: NodeClaimDirectory

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        org: str = PROVIDER,
        member: str = "client0",
        content_type: str = "application/fhir+json",
    ) -> httpx.Response:
        raw = (
            b"" if body is None else body if isinstance(body, bytes) else msgspec.json.encode(body)
        )
        headers = sign_request(self.consortium.member(org, member), method, path, raw)
        headers["Content-Type"] = content_type
        return await self.http.request(method, path, content=raw, headers=headers)


@asynccontextmanager
async def payer_node(
    consortium: ConsortiumConfig, max_x12_bytes: int = 5_000_000
) -> AsyncIterator[Node]:
    contracts = ("plans", "claims", "prior_auth")
    async with running(consortium, contracts=contracts) as net, AsyncExitStack() as stack:
        if True:
            gateway = net.gateway(PAYER)
            admin = net.gateway(PAYER, "admin")
            directory = NodeClaimDirectory(PAYER, SECRET, SYSTEM)
            await admin.submit("plans", "publish", [msgspec.to_builtins(benefit_plan(PAYER))])
            await admin.submit("plans", "admit", [PROVIDER, True])
            for n in range(6):
                handle = directory.member_handle(PAYER, f"M{n:010d}")
                assert handle is not None
                await admin.submit("plans", "enrol", [msgspec.to_builtins(coverage(handle))])
            pas = PriorAuthService(gateway, MemoryPasStore(), SECRET)
            desk = ClaimsDesk(gateway, ClaimKeyer(b"c" * 32))
            node = NodeService(net.peers[PAYER], gateway)
            stack.callback(node.close)
            app = create_app(node)
            assert isinstance(app.app, FastAPI)
            add_payer_routes(app.app, pas, MemoryEligibility())
            remittance = RemittanceDesk(desk, PAYER, history=net.peers[PAYER].state)
            add_claim_routes(
                app.app,
                pas,
                desk,
                directory,
                remittance=remittance,
                max_x12_bytes=max_x12_bytes,
            )
            submits = [r for r in app.app.routes if getattr(r, "path", "") == "/fhir/Claim/$submit"]
            assert len(submits) == 1
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node")
            )
            yield Node(net, consortium, http, desk, directory)


def fhir_claim(claim_id: str, *, member: str = "M0000000000", net: Any = 150.0) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "identifier": {"system": "urn:org1:claims", "value": str(uuid.uuid4())},
        "type": "collection",
        "timestamp": "2026-03-02T10:00:00Z",
        "entry": [
            {
                "fullUrl": "urn:uuid:claim",
                "resource": {
                    "resourceType": "Claim",
                    "identifier": [{"system": "urn:org1:claims", "value": claim_id}],
                    "status": "active",
                    "type": {"coding": [{"code": "professional"}]},
                    "use": "claim",
                    "patient": {"reference": "urn:uuid:patient"},
                    "created": "2026-03-02",
                    "insurer": {"identifier": {"value": PAYER}},
                    "provider": {"reference": "urn:uuid:provider"},
                    "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "gold"}}],
                    "item": [
                        {
                            "sequence": 1,
                            "productOrService": {"coding": [{"code": "99213"}]},
                            "servicedDate": "2026-03-02",
                            "net": {"value": net, "currency": "USD"},
                        },
                        {
                            "sequence": 2,
                            "productOrService": {"coding": [{"code": "73560"}]},
                            "servicedDate": "2026-03-02",
                            "net": {"value": 120, "currency": "USD"},
                        },
                    ],
                },
            },
            {
                "fullUrl": "urn:uuid:patient",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [
                        {"type": {"coding": [{"code": "MB"}]}, "system": SYSTEM, "value": member}
                    ],
                    "name": [{"family": "Rivera", "given": ["Ana"]}],
                    "birthDate": "1961-07-14",
                    "gender": "female",
                },
            },
            {
                "fullUrl": "urn:uuid:provider",
                "resource": {
                    "resourceType": "Organization",
                    "name": "ORG1 CLINIC",
                    "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": NPI}],
                },
            },
        ],
    }


def total(resource: dict[str, Any], code: str) -> int:
    return next(
        round(t["amount"]["value"] * 100)
        for t in resource["total"]
        if t["category"]["coding"][0]["code"] == code
    )


def segments(x12: str, tag: str) -> list[list[str]]:
    return [s.strip().split("*") for s in x12.split("~") if s.strip().startswith(tag + "*")]


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_claim_submit_dispatches_by_use_and_eob_matches_835(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with payer_node(consortium) as node:
            answer = await node.call("POST", "/fhir/Claim/$submit", fhir_claim("PCN-F1"))
            assert answer.status_code == 200, answer.text
            response = answer.json()
            assert response["resourceType"] == "ClaimResponse"
            assert response["outcome"] == "complete"
            assert total(response, "submitted") == 27_000
            # A PAS request through the same operation reaches the PAS handler.
            pas = pas_bundle()
            pas["entry"][1]["resource"]["identifier"][0]["system"] = SYSTEM
            pa = await node.call("POST", "/fhir/Claim/$submit", pas)
            assert pa.status_code == 200, pa.text
            assert pa.json()["entry"][0]["resource"]["resourceType"] == "ClaimResponse"
            # The same service billed again at another charge: a suspect duplicate, pended, then
            # reviewed by the payer's user (not a duplicate: priced).
            suspect = fhir_claim("PCN-F2", net=149.0)
            pended = (await node.call("POST", "/fhir/Claim/$submit", suspect)).json()
            assert pended["outcome"] == "queued", pended
            key = next(
                i["value"] for i in pended["identifier"] if i["system"].endswith("claim-key")
            )
            path = f"/payer/claims/{key}/review"
            assert (await node.call("POST", path, {"duplicate": False})).status_code == 403
            reviewed = await node.call("POST", path, {"duplicate": False}, org=PAYER)
            assert reviewed.status_code == 200, reviewed.text
            assert reviewed.json()["disposition"] == "processed"
            # The same claim number again: refused by the contract, not adjudicated twice.
            again = await node.call("POST", "/fhir/Claim/$submit", fhir_claim("PCN-F1"))
            assert again.status_code >= 400
            assert again.json()["resourceType"] == "OperationOutcome"
            # The 835 of the day and the EOB carry the same numbers.
            path = f"/payer/remittance/{NPI}/{today()}"
            remit = await node.call("GET", path)
            assert remit.status_code == 200, remit.text
            assert remit.headers["content-type"].startswith(EDI_X12)
            verdict = pyx12_validate(remit.content)
            assert verdict.accepted, verdict.errors
            clp = next(c for c in segments(remit.text, "CLP") if c[1] == "PCN-F1")
            eobs = await node.call(
                "GET", f"/fhir/ExplanationOfBenefit?patient={SYSTEM}|M0000000000", org=PAYER
            )
            assert eobs.status_code == 200, eobs.text
            assert eobs.json()["total"] == 2  # PCN-F1 and the reviewed PCN-F2
            eob = next(
                e["resource"]
                for e in eobs.json()["entry"]
                if e["resource"]["identifier"][0]["value"] == clp[7]  # CLP07
            )
            assert round(float(clp[3]) * 100) == total(eob, "submitted") == 27_000
            assert round(float(clp[4]) * 100) == total(eob, "paidtoprovider")
            assert round(float(clp[5]) * 100) == total(eob, "memberliability")
            assert total(response, "benefit") == total(eob, "paidtoprovider")
            # Replaying: the same request gives the same bytes.
            assert (await node.call("GET", path)).content == remit.content
            # Who may read: not another organisation; EOBs only the payer's own users.
            assert (await node.call("GET", path, org=OUTSIDER)).status_code == 404
            denied = await node.call("GET", "/fhir/ExplanationOfBenefit?patient=M0000000000")
            assert denied.status_code == 403
            # Nothing that identifies the patient, provider or claim is on chain in clear.
            needles = [b"M0000000000", b"Rivera", b"1961-07-14", NPI.encode(), b"PCN-F1"]
            for peer in node.net.peers.values():
                for namespace in ("claims", "plans"):
                    for key, value in peer.state.range(namespace, "", ""):
                        text = key.encode() + bytes(value.value)
                        assert not [n for n in needles if n in text], key
            block_files = list(node.consortium.dir.rglob("blocks.log"))
            assert block_files
            for blocks in block_files:
                raw = blocks.read_bytes()
                assert not [n for n in needles if n in raw], blocks

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("net", "path"),
    [(-5, "item[0].net.value"), (1.005, "item[0].net.value"), ("ten", "item[0].net.value")],
)
def test_bad_money_is_refused_naming_the_path(
    consortium: ConsortiumConfig, net: Any, path: str
) -> None:
    async def scenario() -> None:
        async with payer_node(consortium) as node:
            answer = await node.call("POST", "/fhir/Claim/$submit", fhir_claim("PCN-B1", net=net))
            assert answer.status_code == 400
            outcome = answer.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert path in str(outcome["issue"][0]["expression"])
            assert node.desk.archive.find() == []

    asyncio.run(scenario())


def test_an_837_is_answered_with_999_and_277ca_and_remitted(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with payer_node(consortium) as node:
            claims = payer_claims(6, PAYER, PAYER, node.directory)
            data = claims_837(claims, PAYER, b"routes")
            answer = await node.call("POST", "/payer/x12", data, content_type=EDI_X12)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert (body["acceptedSets"], body["rejectedSets"]) == (1, 0)
            assert len(body["claims"]) == 6
            assert {c["disposition"] for c in body["claims"]} == {"processed"}
            for document in (body["ack999"], body["status277ca"]):
                verdict = pyx12_validate(document)
                assert verdict.accepted, verdict.errors
            remit = await node.call("GET", f"/payer/remittance/{NPI}/{today()}")
            assert remit.status_code == 200
            assert len(segments(remit.text, "CLP")) == 6
            assert pyx12_validate(remit.content).accepted

            # A transaction set with a wrong segment count: a rejecting 999, nothing adjudicated.
            bad = claims_837(payer_claims(2, PAYER, PAYER, node.directory)[:1], PAYER, b"bad")
            text = bad.decode()
            se = next(s for s in text.split("~") if s.strip().startswith("SE*"))
            broken = text.replace(se, "SE*3*" + se.split("*")[2]).encode()
            before = node.desk.archive.find()
            rejected = await node.call("POST", "/payer/x12", broken, content_type=EDI_X12)
            assert rejected.status_code == 200, rejected.text
            assert rejected.json()["rejectedSets"] == 1
            assert rejected.json()["claims"] == []
            assert segments(rejected.json()["ack999"], "AK9")[0][1] == "R"
            assert node.desk.archive.find() == before
            # A truncated interchange: 400 naming the fault; the wrong media type: 415.
            truncated = await node.call("POST", "/payer/x12", data[:50], content_type=EDI_X12)
            assert truncated.status_code == 400
            assert "X12" in truncated.text
            wrong = await node.call("POST", "/payer/x12", data, content_type="text/plain")
            assert wrong.status_code == 415
            # An organisation that is not a trading partner of the payer.
            outsider = await node.call(
                "POST", "/payer/x12", data, org=OUTSIDER, content_type=EDI_X12
            )
            assert outsider.status_code == 403
            assert node.desk.archive.find() == before

    asyncio.run(scenario())


def test_an_x12_file_over_the_cap_is_413(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with payer_node(consortium, max_x12_bytes=4096) as node:
            data = claims_837(payer_claims(20, PAYER, PAYER, node.directory), PAYER, b"big")
            answer = await node.call("POST", "/payer/x12", data, content_type=EDI_X12)
            assert answer.status_code == 413
            assert node.desk.archive.find() == []

    asyncio.run(scenario())


def test_every_claim_route_is_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    app = FastAPI()
    pas = type("Pas", (), {"gateway": None, "org": PAYER, "secret": SECRET})()
    from careledger.payer.fingerprints import FingerprintService

    service = FingerprintService(meter=lambda _o, _n: asyncio.sleep(0))
    add_claim_routes(
        app,
        pas,
        None,
        NodeClaimDirectory(PAYER, SECRET, SYSTEM),
        fingerprints=service,  # type: ignore[arg-type]
    )
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert len(routes) == 6
    for route in routes:
        for method in route.methods:
            assert f"`{method} {route.path}`" in doc, f"{method} {route.path} not in docs/api.md"


def test_a_fhir_claim_is_replaced_then_voided(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with payer_node(consortium) as node:
            first = (await node.call("POST", "/fhir/Claim/$submit", fhir_claim("PCN-R1"))).json()
            control = first["identifier"][0]["value"]
            replacement = fhir_claim("PCN-R1", net=140.0)
            claim = replacement["entry"][0]["resource"]
            claim["related"] = [
                {"relationship": {"coding": [{"code": "prior"}]}, "reference": {"value": control}}
            ]
            replaced = await node.call("POST", "/fhir/Claim/$submit", replacement)
            assert replaced.status_code == 200, replaced.text
            assert total(replaced.json(), "submitted") == 26_000
            new_control = replaced.json()["identifier"][0]["value"]
            void = copy.deepcopy(replacement)
            void["entry"][0]["resource"]["status"] = "cancelled"
            void["entry"][0]["resource"]["related"][0]["reference"]["value"] = new_control
            voided = await node.call("POST", "/fhir/Claim/$submit", void)
            assert voided.status_code == 200, voided.text
            assert voided.json()["disposition"] == "reversed"
            assert total(voided.json(), "submitted") == -26_000
            # A cancellation that names no original is refused with the path.
            bad = fhir_claim("PCN-R2")
            bad["entry"][0]["resource"]["status"] = "cancelled"
            refused = await node.call("POST", "/fhir/Claim/$submit", bad)
            assert refused.status_code == 400
            assert "related" in str(refused.json()["issue"][0]["expression"])
            # The day's 835: the original, its reversal, the replacement, its reversal.
            remit = await node.call("GET", f"/payer/remittance/{NPI}/{today()}")
            statuses = sorted(seg[2] for seg in segments(remit.text, "CLP"))
            assert statuses == ["1", "1", "22", "22"]
            assert pyx12_validate(remit.content).accepted

    asyncio.run(scenario())
