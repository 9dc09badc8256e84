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
    OtherCoverage,
)
from careledger.payer.x12.offchain import Address, ClaimOffChain, ProviderParty, SubmissionHeader
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


# --- claims as billed (for the 837 round trip) ---------------------------------------------

DIAGNOSES = ["E119", "I10", "J449", "M5450", "Z0000", "R0789", "S8290XA"]


@st.composite
def billed_claims(draw: st.DrawFn, index: int, institutional: bool) -> tuple[Claim, ClaimOffChain]:
    diagnoses = draw(st.lists(st.sampled_from(DIAGNOSES), min_size=1, max_size=4, unique=True))
    lines = []
    for number in range(1, draw(st.integers(min_value=1, max_value=5)) + 1):
        day = draw(st.integers(min_value=1, max_value=20))
        span = draw(st.integers(min_value=0, max_value=3))
        line = ClaimLine(
            line=number,
            procedure_code=draw(st.sampled_from(CODES)),
            charge_cents=draw(st.integers(min_value=1, max_value=9_999_999)),
            units=draw(st.integers(min_value=1, max_value=99)),
            service_from=f"2026-02-{day:02d}",
            service_to=f"2026-02-{day + span:02d}" if span else None,
            modifiers=draw(st.lists(st.sampled_from(["25", "59", "RT", "LT", "76"]), max_size=4)),
            revenue_code=draw(st.sampled_from(["0450", "0300", "0250"])) if institutional else None,
            rendering_npi=draw(st.sampled_from([None, "1234567893"])),
            place_of_service=None if institutional else draw(st.sampled_from([None, "11", "22"])),
            diagnosis_pointers=[]
            if institutional
            else draw(
                st.lists(
                    st.integers(min_value=1, max_value=len(diagnoses)),
                    min_size=1,
                    max_size=min(4, len(diagnoses)),
                    unique=True,
                )
            ),
        )
        lines.append(line)
    other = []
    if draw(st.booleans()):
        other.append(
            OtherCoverage(
                payer=draw(st.sampled_from(["OTHERPAYER1", "MEDICARE01"])),
                responsibility="primary",
                relationship=draw(st.sampled_from(["self", "spouse", "child"])),
                paid_cents=draw(st.integers(min_value=0, max_value=50_000)),
                adjudicated=True,
            )
        )
    rendering = draw(st.sampled_from([None, "1497758544"]))
    claim = Claim(
        claim_id=f"PCN{index:03d}-{draw(st.integers(min_value=0, max_value=10**6))}",
        kind="institutional" if institutional else "professional",
        member="ph1" + hashlib.sha256(f"keyhealth|JS{index:09d}".encode()).hexdigest(),
        payer="keyhealth",
        billing_npi="1912301953",
        lines=lines,
        total_charge_cents=sum(line.charge_cents for line in lines),
        frequency_code=draw(st.sampled_from(["1", "7"])),
        place_of_service=None if institutional else "11",
        facility_type="13" if institutional else None,
        diagnoses=diagnoses,
        prior_authorization=draw(st.sampled_from([None, "PA-2026-0042"])),
        rendering_npi=rendering,
        responsibility=draw(st.sampled_from(["primary", "secondary", "tertiary"])),
        other_coverage=other,
        statement_from="2026-02-01" if institutional else None,
        statement_to="2026-02-28" if institutional else None,
    )
    dependent = draw(st.booleans())
    parties = ClaimParties(
        member_id=f"JS{index:09d}",
        subscriber_last="SMITH",
        subscriber_first="JANE",
        patient_last="SMITH" if dependent else "",
        patient_first="TED" if dependent else "",
        birth_date="1990-07-04",
        gender=draw(st.sampled_from(["M", "F"])),
        relationship="child" if dependent else "self",
    )
    off = ClaimOffChain(
        parties=parties,
        billing=ProviderParty(
            name="BEN KILDARE SERVICE",
            npi="1912301953",
            tax_id="587654321",
            address=Address(
                line1="234 SEAWAY ST", city="MIAMI", state="FL", postal_code="331110000"
            ),
        ),
        payer_name="KEY INSURANCE COMPANY",
        payer_id="999996666",
        submission=SubmissionHeader(
            reference="REF1",
            created="2026-03-02",
            submitter_name="PREMIER BILLING SERVICE",
            submitter_id="TGJ23",
            receiver_name="KEY INSURANCE COMPANY",
            receiver_id="66783JJT",
            contact_name="JERRY",
            contact_phone="3055552222",
        ),
        subscriber_address=None
        if dependent
        else Address(line1="1 MAIN ST", city="MIAMI", state="FL", postal_code="331110000"),
        patient_address=Address(
            line1="236 N MAIN ST", city="MIAMI", state="FL", postal_code="331110000"
        )
        if dependent
        else None,
        group_number="2222-SJ",
        claim_flags=("" if institutional else "Y", "A", "Y", "I"),
        patient_status="01" if institutional else "",
        rendering=None
        if rendering is None
        else ProviderParty(name="KILDARE", first_name="BEN", entity_type="1", npi=rendering),
    )
    return claim, off


def reversal_of(item: RemittanceItem) -> RemittanceItem:
    """The 835 reversal of a paid claim (CLP02 22): the same claim with every amount negated."""

    def negate(adjustments: list[Adjustment]) -> list[Adjustment]:
        return [Adjustment(a.group, a.reason, -a.amount_cents, a.quantity) for a in adjustments]

    adj = item.adjudication
    lines = [
        LineAdjudication(
            line=ln.line,
            code=ln.code,
            modifiers=ln.modifiers,
            charge_cents=-ln.charge_cents,
            allowed_cents=-ln.allowed_cents,
            paid_cents=-ln.paid_cents,
            adjustments=negate(ln.adjustments),
            remarks=ln.remarks,
            units_paid=-ln.units_paid,
        )
        for ln in adj.lines
    ]
    reversed_adjudication = ClaimAdjudication(
        claim_key=adj.claim_key,
        digest=adj.digest,
        payer=adj.payer,
        member=adj.member,
        plan=adj.plan,
        plan_year=adj.plan_year,
        status="22",
        disposition="reversed",
        total_charge_cents=-adj.total_charge_cents,
        paid_cents=-adj.paid_cents,
        patient_responsibility_cents=-adj.patient_responsibility_cents,
        lines=lines,
        adjustments=negate(adj.adjustments),
        remarks=adj.remarks,
        payer_claim_control_number=adj.payer_claim_control_number + "-R",
        adjudicated=adj.adjudicated,
    )
    return RemittanceItem(
        adjudication=reversed_adjudication, claim=item.claim, parties=item.parties
    )
