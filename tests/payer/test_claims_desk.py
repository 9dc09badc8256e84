"""The claims desk end to end on an embedded consortium: a claim adjudicated on the ledger, the
835 and the member's EOB with the same numbers, the 835 reproduced byte for byte from the chain,
and the cross-payer check run after adjudication."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import msgspec
import pytest

from careledger.contracts.payer.model import ClaimParties
from careledger.errors import CareLedgerError, InvalidInput
from careledger.node.consortium import ConsortiumConfig
from careledger.payer.claims.remittance import RemittanceDesk
from careledger.payer.claims_service import ClaimsDesk, remittance_835
from careledger.payer.eob import explanation_of_benefit
from careledger.payer.fingerprints import FingerprintService, ledger_meter
from careledger.payer.ledger_form import ClaimKeyer
from careledger.payer.x12.offchain import Address
from careledger.payer.x12.pyx12_check import pyx12_validate
from careledger.payer.x12.remit835 import PayeeInfo, PayerInfo, Payment
from careledger.payer.x12.writer import Envelope, Party
from tests.harness import running
from tests.payer.factories import PAYER, claim, coverage, line, plan

CONTRACTS = ("plans", "claims", "claim_fingerprints")
PARTIES = ClaimParties(member_id="W123456789", subscriber_last="RIVERA", subscriber_first="ANA")


def _payment(trace: str) -> Payment:
    return Payment(
        trace_number=trace,
        effective="2026-03-20",
        payer=PayerInfo(
            name="ORG2 HEALTH PLAN",
            tax_id="123456789",
            address=Address("1 MAIN ST", "BOSTON", "MA", "02110"),
            contact_name="CLAIMS",
            contact_phone="6175550100",
        ),
        payee=PayeeInfo(name="ORG1 CLINIC", npi="1234567893"),
    )


ENVELOPE = Envelope(
    sender=Party("ZZ", "ORG2"),
    receiver=Party("ZZ", "ORG1"),
    moment=datetime(2026, 3, 20, 9, 30),
    seed=b"remittance-test",
)


def _segments(x12: bytes, tag: str) -> list[list[str]]:
    text = x12.decode()
    return [s.split("*") for s in text.split("~") if s.strip().startswith(tag + "*")]


def _total(eob: dict[str, Any], code: str) -> int:
    return next(
        round(t["amount"]["value"] * 100)
        for t in eob["total"]
        if t["category"]["coding"][0]["code"] == code
    )


def test_a_claim_is_adjudicated_remitted_and_explained_with_the_same_numbers(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=CONTRACTS) as net:
            payer = net.gateway(PAYER, "admin")
            await payer.submit(
                "plans", "publish", [msgspec.to_builtins(plan(timely_filing_days=365))]
            )
            await payer.submit("plans", "enrol", [msgspec.to_builtins(coverage())])
            await net.gateway("Org3", "admin").submit(
                "claim_fingerprints", "register_service", [100]
            )
            service = FingerprintService(meter=ledger_meter(net.gateway("Org3", "admin")))
            desk = ClaimsDesk(
                net.gateway(PAYER),
                ClaimKeyer(b"k" * 32),
                fingerprints=lambda e: service.evaluate(PAYER, e),
            )
            billed = claim(line(1, "99213", 15_000), line(2, "73560", 12_000))
            outcome = await desk.adjudicate(billed, PARTIES)
            adjudication = outcome.adjudication
            assert adjudication.disposition == "processed"
            assert outcome.cross_payer_duplicates == []
            key = adjudication.claim_key
            items = await desk.remittance_items([key])
            x12 = remittance_835(ENVELOPE, [(_payment("TRN-1"), items)])
            verdict = pyx12_validate(x12)
            assert verdict.accepted, verdict.errors
            clp = _segments(x12, "CLP")[0]
            eob = explanation_of_benefit(
                items[0], patient="Patient/p1", insurer=PAYER, provider="1234567893"
            )
            assert (
                round(float(clp[3]) * 100) == _total(eob, "submitted") == billed.total_charge_cents
            )
            assert (
                round(float(clp[4]) * 100)
                == _total(eob, "paidtoprovider")
                == adjudication.paid_cents
            )
            assert round(float(clp[5]) * 100) == _total(eob, "memberliability")
            svc = _segments(x12, "SVC")
            for segment, item in zip(svc, eob["item"], strict=True):
                paid = next(
                    a
                    for a in item["adjudication"]
                    if a["category"]["coding"][0]["code"] == "paidtoprovider"
                )
                assert round(float(segment[3]) * 100) == round(paid["amount"]["value"] * 100)
            # A second desk that knows only the chain and the archive writes the same bytes.
            replayed = ClaimsDesk(net.gateway(PAYER), ClaimKeyer(b"k" * 32), desk.archive)
            again = remittance_835(
                ENVELOPE, [(_payment("TRN-1"), await replayed.remittance_items([key]))]
            )
            assert again == x12
            # The same claim number again is refused by the contract, nothing is recorded twice.
            with pytest.raises(CareLedgerError, match="already"):
                await desk.adjudicate(billed, PARTIES)
            with pytest.raises(InvalidInput):
                await desk.remittance_items(["ab" * 32])

    asyncio.run(scenario())


def test_a_voided_claim_keeps_its_835_and_its_reversal_is_remitted(
    consortium: ConsortiumConfig,
) -> None:
    """With the chain's history a voided claim stays in the 835 of its day (the void deleted its
    current adjudication), the void's reversal (CLP02 22, negated amounts) is remitted too,
    pyx12 accepts both 835s, and a second desk re-derives the same bytes."""

    async def scenario() -> None:
        async with running(consortium, contracts=CONTRACTS) as net:
            payer = net.gateway(PAYER, "admin")
            await payer.submit(
                "plans", "publish", [msgspec.to_builtins(plan(timely_filing_days=365))]
            )
            await payer.submit("plans", "enrol", [msgspec.to_builtins(coverage())])
            desk = ClaimsDesk(net.gateway(PAYER), ClaimKeyer(b"k" * 32))
            remit = RemittanceDesk(desk, PAYER, history=net.peers[PAYER].state)
            billed = claim(line(1, "99213", 15_000), line(2, "73560", 12_000))
            first = (await desk.adjudicate(billed, PARTIES)).adjudication
            npi, day = billed.billing_npi, first.adjudicated
            before = await remit.payee_835(npi, day)
            assert pyx12_validate(before.x12).accepted
            void = msgspec.structs.replace(
                billed, frequency_code="8", original_reference=first.payer_claim_control_number
            )
            reversed_ = (await desk.adjudicate(void, PARTIES)).adjudication
            assert (reversed_.status, reversed_.paid_cents) == ("22", -first.paid_cents)
            after = await remit.payee_835(npi, day)  # the void is on the same day here
            statuses = [seg[2] for seg in _segments(after.x12, "CLP")]
            assert sorted(statuses) == ["1", "22"]
            assert after.paid_cents == 0  # paid, then taken back
            verdict = pyx12_validate(after.x12)
            assert verdict.accepted, verdict.errors
            # Re-derived from the chain: the same bytes.
            again = await RemittanceDesk(desk, PAYER, history=net.peers[PAYER].state).payee_835(
                npi, day
            )
            assert again.x12 == after.x12

    asyncio.run(scenario())
