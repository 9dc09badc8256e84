"""Cross-payer duplicate claims through OPRF fingerprints: found across payers, never for
coordination of benefits, no plaintext on the ledger, and guessing is metered and refused."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import msgspec
import pytest

from careledger.contracts.payer.model import Claim, ClaimLine, ClaimParties
from careledger.contracts.registry import default_registry
from careledger.errors import CareLedgerError, InvalidInput
from careledger.node.consortium import ConsortiumConfig
from careledger.payer.fingerprints import (
    FingerprintClient,
    FingerprintService,
    fingerprint_claim,
    ledger_meter,
    line_keys,
)
from tests.harness import running, settle

HANDLE = "ph1" + "ab" * 32
PATIENT = ClaimParties(
    member_id="W1", subscriber_last="Rivera", subscriber_first="Ana", birth_date="1961-07-14"
)
OTHER = ClaimParties(
    member_id="W2", subscriber_last="Chen", subscriber_first="Li", birth_date="1975-01-02"
)
BILLING, RENDERING = "1234567893", "1987654321"


def claim(member: str = HANDLE, charge: int = 12_500, modifiers: list[str] | None = None) -> Claim:
    line = ClaimLine(
        line=1,
        procedure_code="99213",
        charge_cents=charge,
        units=1,
        service_from="2026-03-14",
        modifiers=modifiers or [],
    )
    return Claim(
        claim_id="PCN-0001",
        kind="professional",
        member=member,
        payer="Org1",
        billing_npi=BILLING,
        rendering_npi=RENDERING,
        place_of_service="11",
        lines=[line],
        total_charge_cents=charge,
    )


async def _free(org: str, count: int) -> None:
    return None


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_one_service_key_gives_one_fingerprint_whoever_blinds() -> None:
    service = FingerprintService(meter=_free)
    first, second = FingerprintClient(), FingerprintClient()
    a = run(fingerprint_claim(claim(), PATIENT, first, lambda e: service.evaluate("Org1", e)))
    b = run(fingerprint_claim(claim(), PATIENT, second, lambda e: service.evaluate("Org2", e)))
    assert a == b
    # The service saw only blinded elements: two blindings of one key differ.
    keys = line_keys(claim(), PATIENT)
    assert first.blind(keys).elements != second.blind(keys).elements
    # Another service key (or another claim) gives another fingerprint.
    other = FingerprintService(meter=_free)
    assert run(fingerprint_claim(claim(), PATIENT, first, lambda e: other.evaluate("Org1", e))) != a
    assert (
        run(
            fingerprint_claim(
                claim(charge=12_600), PATIENT, first, lambda e: service.evaluate("Org1", e)
            )
        )
        != a
    )


def test_modifier_order_does_not_change_the_key_but_the_set_does() -> None:
    assert line_keys(claim(modifiers=["25", "59"]), PATIENT) == line_keys(
        claim(modifiers=["59", "25"]), PATIENT
    )
    assert line_keys(claim(modifiers=["25"]), PATIENT) != line_keys(
        claim(modifiers=["76"]), PATIENT
    )


@pytest.mark.parametrize(
    "element",
    [bytes(32), os.urandom(31), b"\xff" * 32, b"not a point at all, not at all!"],
    ids=["identity", "short", "non-canonical", "junk"],
)
def test_the_service_refuses_hostile_elements_before_metering(element: bytes) -> None:
    metered: list[int] = []

    async def meter(org: str, count: int) -> None:
        metered.append(count)

    service = FingerprintService(meter=meter)
    with pytest.raises(InvalidInput, match="Ristretto255"):
        run(service.evaluate("Org1", [element]))
    assert metered == []


def _contracts() -> tuple[str, ...]:
    return ("claim_fingerprints",)


async def _service(net, limit: int) -> FingerprintService:  # type: ignore[no-untyped-def]
    await net.gateway("Org3", "admin").submit("claim_fingerprints", "register_service", [limit])
    return FingerprintService(meter=ledger_meter(net.gateway("Org3", "admin")))


def test_cross_payer_duplicates_cob_and_no_plaintext(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=_contracts()) as net:
            service = await _service(net, 100)
            client = FingerprintClient()

            async def record(
                org: str, c: Claim, cob: bool = False, who: ClaimParties = PATIENT
            ) -> list[dict[str, object]]:
                prints = await fingerprint_claim(c, who, client, lambda e: service.evaluate(org, e))
                entries = [{"fingerprint": p, "cob": cob} for p in prints]
                result = await net.gateway(org).submit("claim_fingerprints", "record", [entries])
                return result.result  # type: ignore[no-any-return]

            assert await record("Org1", claim()) == []
            matches = await record("Org2", claim())
            assert [m["payers"] for m in matches] == [["Org1"]]
            # The first payer again: one sighting per payer (idempotent), the other still seen.
            again = await record("Org1", claim())
            assert [m["payers"] for m in again] == [["Org2"]]
            sightings = await net.gateway("Org1").evaluate(
                "claim_fingerprints", "sightings", [matches[0]["fingerprint"]]
            )
            assert sorted(s["payer"] for s in sightings) == ["Org1", "Org2"]
            # Another service of the same member: not a duplicate.
            assert await record("Org2", claim(charge=9_900)) == []
            # Coordination of benefits: declared other coverage, never a duplicate.
            other = claim(member="ph1" + "cd" * 32)
            assert await record("Org1", other, who=OTHER) == []
            assert await record("Org2", other, cob=True, who=OTHER) == []
            # Per-payer member handles differ; the same patient is still found.
            assert await record("Org3", claim(member="ph1" + "ef" * 32)) != []
            await settle(net)
            _assert_no_plaintext(net, consortium.dir)

    asyncio.run(scenario())


def _assert_no_plaintext(net, directory: Path) -> None:  # type: ignore[no-untyped-def]
    needles = [
        HANDLE,
        BILLING,
        RENDERING,
        "99213",
        "2026-03-14",
        "PCN-0001",
        "Rivera",
        "1961-07-14",
        "19610714",
    ]
    for peer in net.peers.values():
        for _key, value in peer.state.range("claim_fingerprints", "", ""):
            text = msgspec.json.encode(_key) + bytes(value.value)
            assert not [n for n in needles if n.encode() in text]
    block_files = list(directory.rglob("blocks.log"))
    assert block_files
    for path in block_files:
        raw = path.read_bytes()
        assert b"claim_fingerprints" in raw
        assert not [n for n in needles if n.encode() in raw], path


def test_guessing_is_metered_on_the_ledger_and_refused_past_the_limit(
    consortium: ConsortiumConfig,
) -> None:
    """A member who knows a patient's handle tries dates and codes: every guess costs an
    evaluation the ledger meters under its organisation, and the limit stops the sweep."""

    async def scenario() -> None:
        async with running(consortium, contracts=_contracts()) as net:
            service = await _service(net, 5)
            client = FingerprintClient()
            done, refused = 0, ""
            for day in range(1, 29):
                base = claim()
                line = msgspec.structs.replace(base.lines[0], service_from=f"2026-03-{day:02d}")
                guess = msgspec.structs.replace(base, lines=[line])
                try:
                    await fingerprint_claim(
                        guess, PATIENT, client, lambda e: service.evaluate("Org2", e)
                    )
                except CareLedgerError as exc:
                    refused = str(exc)
                    break
                done += 1
            assert done == 5
            assert "rate_limited" in refused
            await settle(net)
            day = await net.gateway("Org2").evaluate(
                "claim_fingerprints", "usage", ["Org2", _today()]
            )
            assert day == 5
            # Only the service organisation meters.
            with pytest.raises(CareLedgerError, match="only the registered fingerprint service"):
                await net.gateway("Org2", "admin").submit(
                    "claim_fingerprints", "meter", ["Org2", 1]
                )

    asyncio.run(scenario())


def _today() -> int:
    import time

    return int(time.time() * 1000) // 86_400_000


def test_the_contract_is_installed_by_default() -> None:
    assert ("claim_fingerprints", "1.0") in default_registry().installed()
