"""The shared provider directory: Plan-Net searches, licence revocation unverifies a role with no
directory write, and the corrections flow with its figures."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from careledger.credentials import PRACTITIONER_LICENSE, issue_credential
from careledger.credentials.data_integrity import Cryptosuite, ProofOptions, add_proof
from careledger.credentials.ledger import (
    LedgerDidRegistry,
    StatusListPublisher,
    TrustRegistryAdmin,
)
from careledger.credentials.status.bitstring import StatusListIssuer, StatusPurpose
from careledger.identity.did import Ed25519Signer
from careledger.node.consortium import ConsortiumConfig
from tests.payer.env import PAYER, PayerNode, payer_node

CONTRACTS = ("prior_auth", "directory", "dids", "status_lists", "trust_registry")
BOARD = "Org3"  # the licensing board


class Board:
    """A licensing board on the ledger: its DID, accreditation and revocation list."""

    def __init__(self, signer: Ed25519Signer, did: str, lists: StatusListIssuer) -> None:
        self.signer, self.did, self.lists = signer, did, lists
        self.index: dict[str, int] = {}  # practitioner name -> status list index

    def licence(self, name: str) -> tuple[dict[str, Any], int]:
        entry = self.lists.allocate()
        credential = issue_credential(
            PRACTITIONER_LICENSE,
            self.signer,
            f"{self.did}#key-1",
            Ed25519Signer().did_key,
            {
                "licenseNumber": "MD-448812",
                "jurisdiction": "US-MA",
                "specialty": "Family medicine",
                "practitionerName": name,
                "licenseStart": "2020-01-01",
                "licenseEnd": "2030-01-01",
            },
            suite=Cryptosuite.EDDSA_JCS_2022,
            valid_until=datetime.now(UTC) + timedelta(days=365),
            status=[entry],
        )
        self.index[name] = int(entry["statusListIndex"])
        return credential, self.index[name]

    def signed_list(self) -> dict[str, Any]:
        vm = ProofOptions(f"{self.did}#key-1")
        return add_proof(self.lists.credential(), self.signer, vm, Cryptosuite.EDDSA_JCS_2022)


async def _board(node: PayerNode) -> Board:
    admin = node.net.gateway(BOARD, "admin")
    signer = Ed25519Signer()
    did = await LedgerDidRegistry(admin).create(signer)
    trust = TrustRegistryAdmin(admin)
    await trust.bind_issuer(did, signer)
    await trust.accredit(did, PRACTITIONER_LICENSE.name)
    lists = StatusListIssuer("https://board.example/status/1", did, StatusPurpose.REVOCATION)
    return Board(signer, did, lists)


async def _publish(node: PayerNode, entry: dict[str, Any], licence: Any = None) -> Any:
    body: dict[str, Any] = {"entry": entry}
    if licence is not None:
        body["licence"] = licence
    reply = await node.call("POST", "/payer/directory/entries", body, org=PAYER)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def _directory(node: PayerNode, board: Board) -> None:
    await _publish(node, {"kind": "Organization", "id": "acme-clinic", "name": "Acme Clinic"})
    await _publish(
        node,
        {
            "kind": "Network",
            "id": "gold-net",
            "name": "Gold Network",
            "organization": "acme-clinic",
        },
    )
    await _publish(
        node,
        {
            "kind": "Location",
            "id": "acme-main",
            "name": "Acme Main St",
            "organization": "acme-clinic",
            "phone": "+1 617-555-0100",
            "address": {
                "line": "1 Main St",
                "city": "Boston",
                "state": "MA",
                "postal_code": "02110",
            },
        },
    )
    await _publish(node, {"kind": "Practitioner", "id": "dr-rivera", "name": "Dr Ana Rivera"})
    await _publish(node, {"kind": "Practitioner", "id": "dr-chen", "name": "Dr Li Chen"})
    lic_rivera, _ = board.licence("Ana Rivera")
    lic_chen, _ = board.licence("Li Chen")
    publisher = StatusListPublisher(node.net.gateway(BOARD, "admin"))
    await publisher.publish(board.signed_list())
    await _publish(
        node,
        {
            "kind": "PractitionerRole",
            "id": "rivera-fm",
            "practitioner": "dr-rivera",
            "organization": "acme-clinic",
            "locations": ["acme-main"],
            "networks": ["gold-net"],
            "specialties": ["207Q00000X"],
        },
        lic_rivera,
    )
    await _publish(
        node,
        {
            "kind": "PractitionerRole",
            "id": "chen-cardio",
            "practitioner": "dr-chen",
            "organization": "acme-clinic",
            "specialties": ["207RC0000X"],
        },
        lic_chen,
    )


def _ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle["entry"]
        if e["search"]["mode"] == mode
    ]


def _verified(resource: dict[str, Any]) -> bool:
    return next(
        e["valueBoolean"] for e in resource["extension"] if e["url"].endswith("licence-verified")
    )


def test_plan_net_searches_and_licence_revocation(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with payer_node(consortium, CONTRACTS) as node:
            board = await _board(node)
            await _directory(node, board)
            get = node.http.get  # the directory is public: no signature needed

            by_specialty = (await get("/fhir/PractitionerRole?specialty=207Q00000X")).json()
            assert _ids(by_specialty) == ["PractitionerRole/rivera-fm"]
            nucc = "http://nucc.org/provider-taxonomy|207RC0000X"
            assert _ids(
                (await get("/fhir/PractitionerRole", params={"specialty": nucc})).json()
            ) == ["PractitionerRole/chen-cardio"]
            in_network = (await get("/fhir/PractitionerRole?network=Organization/gold-net")).json()
            assert _ids(in_network) == ["PractitionerRole/rivera-fm"]
            at_location = (await get("/fhir/PractitionerRole?location=Location/acme-main")).json()
            assert _ids(at_location) == ["PractitionerRole/rivera-fm"]
            by_org = (await get("/fhir/PractitionerRole?organization=acme-clinic")).json()
            assert sorted(_ids(by_org)) == [
                "PractitionerRole/chen-cardio",
                "PractitionerRole/rivera-fm",
            ]
            included = (
                await get(
                    "/fhir/PractitionerRole?specialty=207Q00000X"
                    "&_include=PractitionerRole:practitioner&_include=PractitionerRole:location"
                    "&_include=PractitionerRole:network"
                )
            ).json()
            assert sorted(_ids(included, "include")) == [
                "Location/acme-main",
                "Organization/gold-net",
                "Practitioner/dr-rivera",
            ]
            assert included["total"] == 1
            networks = (await get("/fhir/Organization?type=ntwk")).json()
            assert _ids(networks) == ["Organization/gold-net"]
            assert len(_ids((await get("/fhir/Organization")).json())) == 2
            today = datetime.now(UTC).date().isoformat()
            assert len(_ids((await get(f"/fhir/Practitioner?_lastUpdated=ge{today}")).json())) == 2
            assert _ids((await get("/fhir/Practitioner?_lastUpdated=lt2020-01-01")).json()) == []
            bad = await get("/fhir/PractitionerRole?colour=blue")
            assert bad.status_code == 400
            assert bad.json()["resourceType"] == "OperationOutcome"
            missing = await get("/fhir/Practitioner/nobody")
            assert missing.status_code == 404

            role = (await get("/fhir/PractitionerRole/rivera-fm")).json()
            assert _verified(role) is True
            verified = (await get("/fhir/PractitionerRole?verified=true")).json()
            assert sorted(_ids(verified)) == [
                "PractitionerRole/chen-cardio",
                "PractitionerRole/rivera-fm",
            ]

            # The board revokes Dr Rivera's licence: one status-list write, no directory write.
            directory_before = node.net.peers[PAYER].state.state_root()
            board.lists.set_status(board.index["Ana Rivera"], True)
            await StatusListPublisher(node.net.gateway(BOARD, "admin")).publish(board.signed_list())
            role = (await get("/fhir/PractitionerRole/rivera-fm")).json()
            assert _verified(role) is False
            assert role["meta"]["versionId"] == "1"  # the entry itself is unchanged
            assert directory_before != node.net.peers[PAYER].state.state_root()
            still = (await get("/fhir/PractitionerRole/chen-cardio")).json()
            assert _verified(still) is True
            unverified = (await get("/fhir/PractitionerRole?verified=false")).json()
            assert _ids(unverified) == ["PractitionerRole/rivera-fm"]

    asyncio.run(main())


def test_publishing_is_refused_for_a_revoked_or_foreign_licence_and_for_other_owners(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with payer_node(consortium, CONTRACTS) as node:
            board = await _board(node)
            await _directory(node, board)
            revoked, index = board.licence("Sam Doe")
            board.lists.set_status(index, True)
            await StatusListPublisher(node.net.gateway(BOARD, "admin")).publish(board.signed_list())
            await _publish(node, {"kind": "Practitioner", "id": "dr-doe", "name": "Dr Sam Doe"})
            role = {"kind": "PractitionerRole", "id": "doe-fm", "practitioner": "dr-doe"}
            refused = await node.call(
                "POST", "/payer/directory/entries", {"entry": role, "licence": revoked}, org=PAYER
            )
            assert refused.status_code == 422
            assert "revoked" in refused.text
            someone_else, _ = board.licence("Ana Rivera")
            stolen = await node.call(
                "POST",
                "/payer/directory/entries",
                {"entry": role, "licence": someone_else},
                org=PAYER,
            )
            assert stolen.status_code == 422
            assert "not this practitioner's" in stolen.text
            forged = dict(board.licence("Sam Doe")[0], issuer=Ed25519Signer().did_key)
            refused = await node.call(
                "POST", "/payer/directory/entries", {"entry": role, "licence": forged}, org=PAYER
            )
            assert refused.status_code == 422
            # Org1 cannot overwrite Org2's entry, even through its own node.
            takeover = await node.call(
                "POST",
                "/payer/directory/entries",
                {"entry": {"kind": "Organization", "id": "acme-clinic", "name": "Not Acme"}},
                org="Org1",
                at="Org1",
            )
            assert takeover.status_code == 422
            assert "belongs to Org2" in takeover.text
            twin = await node.call(
                "POST",
                "/payer/directory/entries",
                {"entry": {"kind": "Network", "id": "acme-clinic", "name": "Acme Net"}},
                org=PAYER,
            )
            assert twin.status_code == 422  # Networks and Organizations share FHIR ids
            # Fields are typed: no free text hides in a name or a code.
            bad = await node.call(
                "POST",
                "/payer/directory/entries",
                {"entry": {"kind": "Practitioner", "id": "x", "name": "DOB 1961-07-14; SSN?"}},
                org=PAYER,
            )
            assert bad.status_code == 400

    asyncio.run(main())


def test_corrections_flow_and_figures(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with payer_node(consortium, CONTRACTS) as node:
            board = await _board(node)
            await _directory(node, board)
            evidence = hashlib.sha256(b"phone call log 2026-03-02").hexdigest()
            reports = []
            for field in ("phone", "address", "specialties"):
                kind, entry_id = (
                    ("Location", "acme-main")
                    if field != "specialties"
                    else ("PractitionerRole", "chen-cardio")
                )
                reply = await node.call(
                    "POST",
                    "/payer/directory/corrections",
                    {"kind": kind, "id": entry_id, "field": field, "evidence": evidence},
                    org="Org1",
                    at="Org1",
                )
                assert reply.status_code == 200, reply.text
                assert reply.json()["owner"] == PAYER
                assert reply.json()["deadline"] > reply.json()["reported_at"]
                reports.append(reply.json()["id"])

            url = f"/payer/directory/corrections/{reports[0]}/resolution"
            not_owner = await node.call(
                "POST", url, {"outcome": "corrected"}, org="Org1", at="Org1"
            )
            assert not_owner.status_code == 422
            fixed = await node.call("POST", url, {"outcome": "corrected"}, org=PAYER)
            assert fixed.status_code == 200, fixed.text
            assert fixed.json()["status"] == "corrected"
            again = await node.call(
                "POST", url, {"outcome": "denied", "reason": "accurate"}, org=PAYER
            )
            assert again.status_code == 422
            no_reason = await node.call(
                "POST",
                f"/payer/directory/corrections/{reports[1]}/resolution",
                {"outcome": "denied"},
                org=PAYER,
            )
            assert no_reason.status_code == 422
            denied = await node.call(
                "POST",
                f"/payer/directory/corrections/{reports[1]}/resolution",
                {"outcome": "denied", "reason": "accurate"},
                org=PAYER,
            )
            assert denied.status_code == 200, denied.text

            year = datetime.now(UTC).year
            figures = await node.call("GET", f"/payer/directory/metrics?year={year}", org="Org3")
            assert figures.status_code == 200, figures.text
            body = figures.json()
            assert (body["reported"], body["corrected"], body["denied"], body["open"]) == (
                3,
                1,
                1,
                1,
            )
            assert body["percent_corrected"] == 33.33
            assert body["median_days_to_correct"] is not None
            assert body["median_days_to_correct"] < 0.01  # resolved within the test
            listed = await node.call("GET", "/payer/directory/corrections", org="Org3")
            assert len(listed.json()["corrections"]) == 3

    asyncio.run(main())
