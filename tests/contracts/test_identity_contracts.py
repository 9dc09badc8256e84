"""The identity system contracts on a real embedded network: ``dids``, ``trust_registry`` and
``status_lists`` — lifecycle, proofs carried by the operations, governance of who may write."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from careledger.contracts.dids import operation_payload
from careledger.credentials.data_integrity import Cryptosuite, ProofOptions, add_proof
from careledger.credentials.ledger import (
    LedgerDidMethod,
    LedgerDidRegistry,
    LedgerStatusListSource,
    StatusListPublisher,
    TrustRegistryAdmin,
    gateway_query,
)
from careledger.credentials.status.bitstring import StatusListIssuer, StatusPurpose
from careledger.crypto.keys import SigningKey
from careledger.errors import ContractError, InvalidInput
from careledger.identity.did import Ed25519Signer, ResolutionError, ResolutionOptions
from careledger.ledger.codes import ValidationCode as Code
from careledger.node.consortium import ConsortiumConfig
from careledger.node.network import EmbeddedNetwork
from tests.harness import endorsed, occurrences, order, running, settle

IDENTITY = ("dids", "status_lists", "trust_registry")
INBOX = {"id": "#inbox", "type": "MessagingService", "serviceEndpoint": "https://payer.example/in"}
COVERAGE = "InsuranceCoverageCredential"


def last_block(net: EmbeddedNetwork) -> int:
    return net.peers["Org1"].height() - 1


def test_did_lifecycle_resolves_as_of_an_earlier_block(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=IDENTITY) as net:
            client = net.gateway("Org2")  # a member submits; the patient's key signs
            registry = LedgerDidRegistry(client)
            reader = LedgerDidMethod(gateway_query(client))
            patient, rotated = Ed25519Signer(), Ed25519Signer()

            did = await registry.create(patient, [INBOX])
            created_at = last_block(net)
            assert await registry.rotate_keys(did, [rotated.public_key], patient) == "2"
            rotated_at = last_block(net)
            # The old key no longer controls the DID: its signature is refused.
            with pytest.raises(ContractError, match="not signed by a current authentication key"):
                await registry.add_service(did, {**INBOX, "id": "#other"}, patient)
            service = {**INBOX, "id": "#fhir", "type": "FhirEndpoint"}
            assert await registry.add_service(did, service, rotated) == "3"
            assert await registry.deactivate(did, rotated) == "4"
            with pytest.raises(ContractError, match="deactivated"):
                await registry.deactivate(did, rotated)

            now = reader.resolve(did, ResolutionOptions())
            assert now.document_metadata.deactivated
            assert not now.ok
            first = reader.resolve_at_block(did, created_at)
            assert first.ok
            assert first.document_metadata.version_id == "1"
            assert first.did_document is not None
            key1 = first.did_document.verification_method("#key-1")
            assert key1 is not None
            assert key1.public_key == patient.public_key
            assert [s["id"] for s in first.did_document.services()] == [f"{did}#inbox"]
            second = reader.resolve(did, ResolutionOptions(version_id="2"))
            assert second.did_document is not None
            key2 = second.did_document.verification_method("#key-1")
            assert key2 is not None
            assert key2.public_key == rotated.public_key
            at_rotation = reader.resolve_at_block(did, rotated_at)
            assert at_rotation.document_metadata.version_id == "2"
            before = reader.resolve_at_block(did, created_at - 1)
            assert before.error is ResolutionError.NOT_FOUND
            assert reader.resolve("did:careledger:nope", ResolutionOptions()).error in (
                ResolutionError.INVALID_DID,
                ResolutionError.NOT_FOUND,
            )

    asyncio.run(scenario())


def test_forged_and_replayed_did_operations_are_refused(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=IDENTITY) as net:
            client = net.gateway("Org1")
            patient, mallory = Ed25519Signer(), Ed25519Signer()
            did = await LedgerDidRegistry(client).create(patient)
            takeover = [mallory.public_key.multikey]

            forged = mallory.sign(operation_payload(did, "rotate", takeover, 1))
            with pytest.raises(ContractError, match="not signed by a current authentication key"):
                await client.submit("dids", "rotate", [did, takeover, forged], retries=0)
            # A genuine signature for another operation or version does not carry over.
            for op, version in (("deactivate", 1), ("rotate", 0), ("rotate", 2)):
                sig = patient.sign(operation_payload(did, op, takeover, version))
                with pytest.raises(ContractError):
                    await client.submit("dids", "rotate", [did, takeover, sig], retries=0)
            # Creating a DID for someone else's key needs that key's signature.
            key = patient.public_key.multikey
            with pytest.raises(ContractError, match="not signed by its initial key"):
                await client.submit(
                    "dids", "create", [mallory.public_key.multikey, [], mallory.sign(b"x")]
                )
            payload = operation_payload(did, "create", {"key": key, "services": []}, 0)
            with pytest.raises(ContractError, match="already exists"):
                await client.submit("dids", "create", [key, [], patient.sign(payload)])

            current = LedgerDidMethod(gateway_query(client)).resolve(did, ResolutionOptions())
            assert current.document_metadata.version_id == "1"

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "service",
    [
        {**INBOX, "note": "patient is diabetic"},  # free text is not a DID field here
        {**INBOX, "serviceEndpoint": "https://payer.example/in?name=Jane+Doe"},
        {**INBOX, "serviceEndpoint": "http://payer.example/in"},
        {**INBOX, "type": "Jane Doe"},
        {**INBOX, "id": "#a b"},
    ],
    ids=["extra-field", "query-string", "not-https", "free-text-type", "bad-id"],
)
def test_did_documents_refuse_anything_but_keys_and_services(
    consortium: ConsortiumConfig, service: dict[str, Any]
) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=("dids",)) as net:
            client = net.gateway("Org1")
            patient = Ed25519Signer()
            key = patient.public_key.multikey
            with pytest.raises(InvalidInput):
                await client.submit("dids", "create", [key, [service], patient.sign(b"x")])

    asyncio.run(scenario())


def test_trust_registry_own_issuers_by_admin_others_by_motion(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=IDENTITY) as net:
            org1, org2, org3 = (TrustRegistryAdmin(net.gateway(o, "admin")) for o in net.peers)
            query = gateway_query(net.gateway("Org3"))
            issuer = Ed25519Signer()
            did = issuer.did_key

            with pytest.raises(ContractError, match="not signed by the DID's controller"):
                await org1.bind_issuer(did, Ed25519Signer())
            with pytest.raises(ContractError, match="only an organisation admin"):
                await TrustRegistryAdmin(net.gateway("Org1")).bind_issuer(did, issuer)
            bound = await org1.bind_issuer(did, issuer)
            assert (bound["org"], bound["generation"]) == ("Org1", 1)
            with pytest.raises(ContractError, match="already bound to Org1"):
                await org2.bind_issuer(did, issuer)

            await org1.accredit(did, COVERAGE)
            assert query("trust_registry", "is_trusted", [did, COVERAGE]) is True
            assert query("trust_registry", "is_trusted", [did, "ImmunizationCredential"]) is False
            # Another organisation cannot change Org1's issuer on its own ...
            with pytest.raises(ContractError, match="only by a motion"):
                await org2.withdraw(did, COVERAGE)
            with pytest.raises(ContractError, match="only by a motion"):
                await org2.accredit(did, "ImmunizationCredential")
            # ... but a motion approved by two organisations can.
            motion = await org2.propose("withdraw", did, COVERAGE)
            assert motion["status"] == "open"
            with pytest.raises(ContractError, match="already approved"):
                await org2.approve(motion["id"])
            applied = await org3.approve(motion["id"])
            assert applied["status"] == "applied"
            assert query("trust_registry", "is_trusted", [did, COVERAGE]) is False

            # did:web control cannot be checked in the contract: bind it by motion instead.
            web = "did:web:board.example"
            with pytest.raises(ContractError, match="bind it through a motion"):
                await org3.bind_issuer(web, issuer)
            bind = await org1.propose("bind", web, org="Org3")
            await org2.approve(bind["id"])
            await org3.accredit(web, "PractitionerLicenseCredential")
            assert query("trust_registry", "is_trusted", [web, "PractitionerLicenseCredential"])
            # Unbinding (by motion) removes the issuer's entries too.
            unbind = await org1.propose("unbind", web)
            await org2.approve(unbind["id"])
            assert query("trust_registry", "entries", [web]) == []
            assert query("trust_registry", "issuer", [web])["org"] == ""
            assert not query("trust_registry", "is_trusted", [web, "PractitionerLicenseCredential"])
            with pytest.raises(InvalidInput, match="not an organisation"):
                await org1.propose("bind", web, org="Nobody")

    asyncio.run(scenario())


def _signed_list(issuer: StatusListIssuer, signer: Ed25519Signer) -> dict[str, Any]:
    options = ProofOptions(f"{issuer.issuer}#key-1")
    return add_proof(issuer.credential(), signer, options, Cryptosuite.EDDSA_JCS_2022)


def test_status_lists_publish_update_and_revocation_is_final(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=IDENTITY) as net:
            admin = net.gateway("Org1", "admin")
            signer = Ed25519Signer()
            did = await LedgerDidRegistry(admin).create(signer)
            lists = StatusListIssuer("https://org1.example/status/1", did, StatusPurpose.REVOCATION)
            index = int(lists.allocate()["statusListIndex"])
            publisher = StatusListPublisher(admin)
            source = LedgerStatusListSource(gateway_query(net.gateway("Org2")))

            with pytest.raises(ContractError, match="not bound to Org1"):
                await publisher.publish(_signed_list(lists, signer))
            await TrustRegistryAdmin(admin).bind_issuer(did, signer)
            first = await publisher.publish(_signed_list(lists, signer))
            assert first["sequence"] == 1
            published = source.get(lists.url)
            assert published is not None
            assert json.loads(published)["credentialSubject"]["encodedList"]

            lists.set_status(index, True)
            assert (await publisher.publish(_signed_list(lists, signer)))["sequence"] == 2
            # Revocation is final, even for the list's own publisher.
            lists.status_list.set(index, False)
            with pytest.raises(ContractError, match="revocation is final"):
                await publisher.publish(_signed_list(lists, signer))
            # Another organisation cannot publish for Org1's issuer.
            with pytest.raises(ContractError, match="not bound to Org2"):
                await StatusListPublisher(net.gateway("Org2", "admin")).publish(
                    _signed_list(lists, signer)
                )
            with pytest.raises(ContractError, match="only an organisation admin"):
                await StatusListPublisher(net.gateway("Org1")).publish(_signed_list(lists, signer))
            # Only the status list shape is accepted: no room for free text.
            lists.status_list.set(index, True)
            extra = {**_signed_list(lists, signer), "description": "list of HIV patients"}
            with pytest.raises(InvalidInput, match="unknown field"):
                await publisher.publish(extra)
            assert source.get("https://org1.example/status/unknown") is None

    asyncio.run(scenario())


def test_a_trust_motion_needs_a_majority_of_the_organisations_in_force(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=IDENTITY) as net:
            org1, org2, org3 = (TrustRegistryAdmin(net.gateway(o, "admin")) for o in net.peers)
            issuer = Ed25519Signer()
            await org1.bind_issuer(issuer.did_key, issuer)
            await org1.accredit(issuer.did_key, COVERAGE)
            motion = await org2.propose("withdraw", issuer.did_key, COVERAGE)
            # Org3's approval is endorsed while there are 3 organisations (2 of 3 would apply)...
            tx_id, stale = await endorsed(
                net.gateway("Org3", "admin"), "trust_registry", "approve", [motion["id"]]
            )
            # ... but a fourth joins before it is ordered: the count it read is stale.
            org4 = {"id": "Org4", "root_key": SigningKey.generate().public.raw.hex(), "name": "4"}
            added = await net.gateway("Org1", "admin").submit("_gov", "propose", ["add_org", org4])
            await settle(net)
            await net.gateway("Org2", "admin").submit("_gov", "approve", [added.result["id"]])
            await settle(net)
            await order(net, stale)
            assert [code for _, code in occurrences(net, tx_id)] == [Code.PHANTOM_READ_CONFLICT]
            # Four organisations: two approvals are not a majority, three are.
            assert (await org3.approve(motion["id"]))["status"] == "open"
            assert (await org1.approve(motion["id"]))["status"] == "applied"
            query = gateway_query(net.gateway("Org3"))
            assert query("trust_registry", "is_trusted", [issuer.did_key, COVERAGE]) is False

    asyncio.run(scenario())
