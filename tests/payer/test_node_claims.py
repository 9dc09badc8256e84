"""Claims on real node processes (uvicorn on 127.0.0.1, endorsement over HTTP — what every node of
``network up`` runs): the provider posts an 837 to the payer's node, gets the 999 and 277CA, the
835 of the day is read back (pyx12 accepts it), the provider's own node holds the same
adjudications (replicated ledger state), and the payer's node obtained its cross-payer
fingerprints from the fingerprint service at a third organisation's node, metered there."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import msgspec

from careledger.api.auth import sign_request
from careledger.node.consortium import ConsortiumConfig
from careledger.payer.claims.routes import EDI_X12, NodeClaimDirectory, member_system_of
from careledger.payer.x12.pyx12_check import pyx12_validate
from careledger.sim.payer_workload import benefit_plan, claims_837, coverage, payer_claims
from tests.api.nodes import approve, cluster
from tests.payer.env import PAYER, PROVIDER


def test_an_837_through_real_nodes(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with (
            cluster(consortium, contracts=("plans", "claims", "claim_fingerprints")) as c,
            httpx.AsyncClient(timeout=30) as web,
        ):
            await approve(c, "prior_auth")
            service = await c.client("Org3", "admin")
            await service.submit("claim_fingerprints", "register_service", [1000])
            payer_node = c.nodes[PAYER]
            assert payer_node.payer is not None
            directory = NodeClaimDirectory(
                PAYER, payer_node.payer.prior_auth.secret, member_system_of(PAYER)
            )
            admin = await c.client(PAYER, "admin")
            await admin.submit("plans", "publish", [msgspec.to_builtins(benefit_plan(PAYER))])
            await admin.submit("plans", "admit", [PROVIDER, True])
            claims = payer_claims(3, PAYER, PAYER, directory)
            for claim, _off in claims:
                await admin.submit("plans", "enrol", [msgspec.to_builtins(coverage(claim.member))])

            async def call(method: str, path: str, raw: bytes, kind: str) -> httpx.Response:
                member = c.consortium.member(PROVIDER, "client0")
                headers = sign_request(member, method, path, raw)
                headers["Content-Type"] = kind
                return await web.request(
                    method, payer_node.url + path, content=raw, headers=headers
                )

            data = claims_837(claims, PAYER, b"nodes")
            answer = await call("POST", "/payer/x12", data, EDI_X12)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert [c["disposition"] for c in body["claims"]] == ["processed"] * 3
            assert all(c["fingerprintsRecorded"] for c in body["claims"])
            assert pyx12_validate(body["ack999"]).accepted
            assert pyx12_validate(body["status277ca"]).accepted
            npi = claims[0][0].billing_npi
            today = datetime.now(UTC).date().isoformat()
            remit = await call("GET", f"/payer/remittance/{npi}/{today}", b"", EDI_X12)
            assert remit.status_code == 200, remit.text
            assert pyx12_validate(remit.content).accepted
            # The provider's own node holds the same adjudications.
            org1 = await c.client(PROVIDER)
            for claim in body["claims"]:
                found = await org1.evaluate("claims", "adjudication", [claim["claimKey"]])
                assert found["paid_cents"] == claim["paidCents"]
            day = (datetime.now(UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days
            lines = sum(len(claim.lines) for claim, _off in claims)
            used = await org1.evaluate("claim_fingerprints", "usage", [PAYER, day])
            assert used == lines  # metered by the service for the payer, one per line
            assert (c.consortium.dir / "nodes" / "Org3" / "payer-fingerprint.key").exists()

    asyncio.run(main())
