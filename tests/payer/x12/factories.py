"""Builders for the X12 tests: adjudicated claims (as hypothesis strategies and fixed examples),
payments, envelopes. Amounts are generated so each line balances by construction, the way the
``claims`` contract explains every cent with a CAS (CO 45 above the fee schedule, PR 1/2/3
within it, CO 96 for a denied line)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from hypothesis import strategies as st

from careledger.contracts.payer.model import (
    Adjustment,
    Claim,
    ClaimAdjudication,
    ClaimLine,
    ClaimParties,
    LineAdjudication,
)
from careledger.payer.x12.offchain import Address
from careledger.payer.x12.remit835 import (
    PayeeInfo,
    PayerInfo,
    Payment,
    ProviderAdjustment,
    RemittanceItem,
)
from careledger.payer.x12.writer import Envelope, Party

CODES = ["99213", "99214", "87070", "86663", "J1100", "0001F", "27447", "93000"]
MEMBER = "ph1" + "ab" * 32
DIGEST = "cd" * 32

PAYER = PayerInfo(
    name="KEY INSURANCE COMPANY",
    tax_id="123456789",
    address=Address(line1="10 SOUTH AVENUE", city="RAPID CITY", state="SD", postal_code="55111"),
    contact_name="EDI DESK",
    contact_phone="8005551212",
)
PAYEE = PayeeInfo(
    name="BEN KILDARE SERVICE",
    npi="1912301953",
    tax_id="587654321",
    address=Address(line1="234 SEAWAY ST", city="MIAMI", state="FL", postal_code="33111"),
)
ENVELOPE = Envelope(
    sender=Party("ZZ", "KEYHEALTH"),
    receiver=Party("ZZ", "KILDARE"),
    moment=datetime(2026, 3, 2, 14, 5),
    seed=b"block-42-tx-7",
)


@st.composite
def line_results(draw: st.DrawFn, number: int) -> tuple[ClaimLine, LineAdjudication]:
    code = draw(st.sampled_from(CODES))
    charge = draw(st.integers(min_value=100, max_value=500_000))
    units = draw(st.integers(min_value=1, max_value=4))
    day = draw(st.integers(min_value=1, max_value=28))
    billed = ClaimLine(
        line=number,
        procedure_code=code,
        charge_cents=charge,
        units=units,
        service_from=f"2026-02-{day:02d}",
        modifiers=draw(st.lists(st.sampled_from(["25", "59", "RT", "LT"]), max_size=2)),
    )
    adjustments: list[Adjustment] = []
    if draw(st.booleans()) and draw(st.booleans()):
        adjustments.append(Adjustment(group="CO", reason="96", amount_cents=charge))
        allowed = paid = 0
        remarks = ["N130"]
    else:
        allowed = draw(st.integers(min_value=0, max_value=charge))
        if charge > allowed:
            adjustments.append(Adjustment(group="CO", reason="45", amount_cents=charge - allowed))
        left = allowed
        for reason in ("1", "3", "2"):
            share = draw(st.integers(min_value=0, max_value=left))
            if share:
                adjustments.append(Adjustment(group="PR", reason=reason, amount_cents=share))
                left -= share
        paid = left
        remarks = []
    result = LineAdjudication(
        line=number,
        code=f"HC:{code}",
        modifiers=list(billed.modifiers),
        charge_cents=charge,
        allowed_cents=allowed,
        paid_cents=paid,
        adjustments=adjustments,
        remarks=remarks,
        units_paid=units if paid else 0,
    )
    return billed, result


@st.composite
def remittance_items(draw: st.DrawFn, index: int = 0) -> RemittanceItem:
    count = draw(st.integers(min_value=1, max_value=4))
    pairs = [draw(line_results(n)) for n in range(1, count + 1)]
    total = sum(b.charge_cents for b, _ in pairs)
    claim_id = f"PCN{index:04d}{draw(st.integers(min_value=0, max_value=99999)):05d}"
    claim = Claim(
        claim_id=claim_id,
        kind="professional",
        member=MEMBER,
        payer="keyhealth",
        billing_npi=PAYEE.npi,
        lines=[b for b, _ in pairs],
        total_charge_cents=total,
        place_of_service="11",
    )
    results = [r for _, r in pairs]
    paid = sum(r.paid_cents for r in results)
    patient = sum(a.amount_cents for r in results for a in r.adjustments if a.group == "PR")
    adjudication = ClaimAdjudication(
        claim_key=hashlib.sha256(claim_id.encode()).hexdigest(),
        digest=DIGEST,
        payer="keyhealth",
        member=MEMBER,
        plan="gold-ppo",
        plan_year=2026,
        status="1" if paid or patient else "4",
        disposition="processed" if paid or patient else "denied",
        total_charge_cents=total,
        paid_cents=paid,
        patient_responsibility_cents=patient,
        lines=results,
        adjustments=[],
        remarks=[],
        payer_claim_control_number=f"KH{index:06d}",
        adjudicated=20_500,
    )
    parties = ClaimParties(
        member_id=f"JS{index:09d}",
        subscriber_last="SMITH",
        subscriber_first="JANE",
        patient_last=draw(st.sampled_from(["", "SMITH"])),
        patient_first="TED",
        birth_date="1973-05-01",
        gender="M",
    )
    return RemittanceItem(adjudication=adjudication, claim=claim, parties=parties)


@st.composite
def payments(draw: st.DrawFn) -> tuple[Payment, list[RemittanceItem]]:
    count = draw(st.integers(min_value=1, max_value=6))
    items = [draw(remittance_items(i)) for i in range(count)]
    paid = sum(item.adjudication.paid_cents for item in items)
    adjustments: list[ProviderAdjustment] = []
    if paid and draw(st.booleans()):
        recovered = draw(st.integers(min_value=1, max_value=paid))
        adjustments.append(ProviderAdjustment("WO", "KH-OVERPAY-1", recovered))
    if draw(st.booleans()):
        interest = draw(st.integers(min_value=1, max_value=5_000))
        adjustments.append(ProviderAdjustment("L6", "INTEREST", -interest))
    payment = Payment(
        trace_number=f"EFT{draw(st.integers(min_value=1, max_value=10**9))}",
        effective="2026-03-02",
        payer=PAYER,
        payee=PAYEE,
        provider_adjustments=adjustments,
    )
    return payment, items
