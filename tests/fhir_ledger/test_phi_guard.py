"""The PHI guard: shapes that are refused on the ledger, in every field of every healthcare
contract and generically for any contract's state."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import msgspec
import pytest

from careledger.contracts.consent import ConsentRecord, to_fhir
from careledger.contracts.phi_guard import PhiRejected, check_schema, screen, screen_text
from careledger.errors import CareLedgerError
from careledger.node.consortium import ConsortiumConfig
from tests.fhir_ledger.world import world
from tests.harness import approve_contract

PHI = [
    "John Smith",
    "john.smith@example.org",
    "123-45-6789",
    "123456789",
    "MRN12345",
    "mrn:4471",
    "(555) 010-9999",
    "555.010.9999",
    "+15550109999",
    "1984-07-14",
    "14/07/1984",
    "07.14.84",
    "19840714",
    "1 Main Street",
    "ZIP90210",
    "J\u043ehn",  # Cyrillic o
    "John\u200bSmith",  # zero-width space
    "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19",  # full-width digits
    "a\tb",
    base64.b64encode(b"John Smith, born 1984").decode(),
    base64.urlsafe_b64encode(b"Smith-John").decode().rstrip("="),
    b"Jane Doe DOB".hex(),
    "x" * 200,
    "4111111111111111",  # a card number is valid hex, but not a digest
]
SAFE = [
    "a" * 64,
    "0123456789abcdef" * 4,
    "3141592653589a79",  # a 16-hex id prefix with a digit run
    "did:careledger:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
    "ph1" + "0" * 64,
    "Org1",
    "member-7f3a",
    "2024-05",
    "TREAT",
    "Observation",
    "123e4567-e89b-12d3-a456-426614174000",
]


@pytest.mark.parametrize("text", PHI)
def test_phi_shapes_are_refused(text: str) -> None:
    assert screen_text(text) is not None
    with pytest.raises(PhiRejected):
        screen({"nested": [{"deeper": text}]})
    with pytest.raises(PhiRejected):
        screen({text: 1})  # in a key too


@pytest.mark.parametrize("text", SAFE)
def test_identifier_shapes_pass(text: str) -> None:
    assert screen_text(text) is None


def test_a_free_text_field_cannot_be_declared() -> None:
    class Note(msgspec.Struct):
        text: str

    class Blob(msgspec.Struct):
        data: bytes

    for kind in (Note, Blob):
        with pytest.raises(PhiRejected):
            check_schema(kind)


ENTRY = {
    "handle": "ph1" + "a" * 64,
    "ref": "b" * 64,
    "resource_type": "Observation",
    "version": 1,
    "action": "create",
    "content_hash": "c" * 64,
    "period": "2024-05",
    "confidentiality": "N",
}
AUDIT = {
    "handle": "ph1" + "a" * 64,
    "action": "disclose",
    "reason": "consent",
    "requester": "Org1",
    "purpose": "TREAT",
    "resource_types": ["Observation"],
    "refs": ["d" * 64],
    "count": 1,
}
SNEAKS: list[Any] = ["John Smith", "123-45-6789", "1984-07-14", "J\u043ehn", "x" * 200, "MRN12345"]


def test_every_field_of_every_contract_refuses_phi(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with world(consortium, enrol=False) as w:
            gw = w.net.gateway("Org1")
            refused = 0
            for field in ENTRY:
                for sneak in SNEAKS:
                    with pytest.raises(CareLedgerError):
                        await gw.submit("locator", "register", [[{**ENTRY, field: sneak}]])
                    refused += 1
            for field in [*AUDIT, "practitioner", "break_glass_reason"]:
                for sneak in SNEAKS:
                    bad: Any = [sneak] if isinstance(AUDIT.get(field), list) else sneak
                    with pytest.raises(CareLedgerError):
                        await gw.submit("audit", "record", [[{**AUDIT, field: bad}]])
                    refused += 1
            did, terms, signature = w.patient.consent_args("Org2")
            for field in terms:
                for sneak in SNEAKS:
                    bad = [sneak] if isinstance(terms[field], list) else sneak
                    with pytest.raises(CareLedgerError):
                        await gw.submit("consent", "grant", [did, {**terms, field: bad}, signature])
                    refused += 1
            for sneak in SNEAKS:
                with pytest.raises(CareLedgerError):
                    await gw.submit("consent", "grant", [sneak, terms, signature])
                with pytest.raises(CareLedgerError):
                    await gw.submit("locator", "erase", [sneak])
            # An unknown extra field is refused too (no side channel).
            with pytest.raises(CareLedgerError):
                await gw.submit("locator", "register", [[{**ENTRY, "note": "ok"}]])
            # The generic guard covers other contracts' state: tokens account names.
            await approve_contract(w.net, "tokens", "MAJORITY")
            for sneak in ("123-45-6789", "MRN12345", "19840714"):
                with pytest.raises(CareLedgerError, match="PHI"):
                    await gw.submit("tokens", "open", [sneak])
            await gw.submit("tokens", "open", ["member-7f3a"])
            assert refused > 100
            assert w.query("locator", "entries", [ENTRY["handle"], [], 0]) == []

    asyncio.run(scenario())


def test_consent_rules_and_fhir_export(consortium: ConsortiumConfig) -> None:
    from careledger.identity.did.keys import Ed25519Signer
    from careledger.sim.demo_fhir import SyntheticPatient

    async def scenario() -> None:
        async with world(consortium, enrol=False) as w:
            gw = w.net.gateway("Org2")
            args = w.patient.consent_args("Org3", purposes=("TREAT", "HRESCH"))
            mallory = SyntheticPatient(Ed25519Signer(), w.patient.did)
            forged = mallory.consent_args("Org3")
            with pytest.raises(CareLedgerError, match="not signed"):
                await gw.submit("consent", "grant", forged, retries=0)
            with pytest.raises(CareLedgerError, match="not an organisation"):
                await gw.submit("consent", "grant", w.patient.consent_args("Org9"), retries=0)
            done = await gw.submit("consent", "grant", args, retries=0)
            with pytest.raises(CareLedgerError, match="replay"):
                await gw.submit("consent", "grant", args, retries=0)
            records = w.query("consent", "consents", [w.patient.did])
            assert [r["id"] for r in records] == [done.result["id"]]
            resource = to_fhir(msgspec.convert(records[0], ConsentRecord), w.local)
            assert resource.status == "active"
            assert {c.code for c in resource.provision.purpose} == {"TREAT", "HRESCH"}
            assert resource.patient.reference == w.local

    asyncio.run(scenario())


def test_public_keys_and_did_urls_are_never_mistaken_for_numbers() -> None:
    # Random base58 key material contains digit runs and date-like digits now and then; a
    # guard that refuses 1 key in 300 makes DID operations fail at random.
    from careledger.crypto.keys import SigningKey
    from careledger.identity.did.keys import multibase_b58

    for _ in range(2000):
        key = multibase_b58(b"\xed\x01" + SigningKey.generate().public.raw)
        assert screen_text(key) is None, key
        assert screen_text(f"did:key:{key}#{key}") is None, key


@pytest.mark.parametrize(
    "smuggled",
    ["z" + "1" * 45, "z1234567890123456789012345678901234567890ab", "did:key:z6Mk#123-45-6789"],
)
def test_digits_dressed_as_a_key_are_still_refused(smuggled: str) -> None:
    assert screen_text(smuggled) is not None


def test_dids_inside_composite_keys_are_identifiers() -> None:
    # Contracts key state by DID ("trust/did:key:z6Mk…/Type"); the DID's random base58 must not
    # be judged as a number, while a number elsewhere in the key still is.
    import os

    from careledger.contracts.phi_guard import screen_key
    from careledger.crypto.keys import SigningKey
    from careledger.identity.did.keys import b58encode, multibase_b58

    for _ in range(2000):
        key = multibase_b58(b"\xed\x01" + SigningKey.generate().public.raw)
        screen_key(f"trust/did:key:{key}/CoverageCredential")
        screen_key(f"issuer/did:careledger:{b58encode(os.urandom(16))}")
    with pytest.raises(PhiRejected):
        screen_key(f"trust/did:key:{key}/123-45-6789")


def test_random_ids_inside_composite_values_are_not_dates_or_numbers() -> None:
    # Motion ids (transaction-id prefixes) and UUID handles carry random digits that sometimes
    # read as a date ("…20231205…"); the guard refused them about once in a few hundred.
    import os
    import uuid

    for _ in range(5000):
        motion = os.urandom(8).hex()
        if motion.isdigit():
            continue  # an all-digit "id" is a number, and refused on purpose
        assert screen_text(f"motion:{motion}") is None, motion
        assert screen_text(f"acct/{uuid.uuid4()}") is None
    for phi in ("motion:19850304", "dob/1985/03/04", "acct/123-45-6789"):
        assert screen_text(phi) is not None, phi
