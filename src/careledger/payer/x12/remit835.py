"""835 health care claim payment/advice (005010X221A1) from ClaimAdjudication results.

One ST-835 per payment to one payee: ``BPR`` (the money), ``TRN`` (the trace the bank deposit
carries), payer and payee (``N1``), then per claim ``CLP`` with its ``CAS``, patient ``NM1``,
and per line ``SVC`` with its ``CAS``, allowed amount and remarks; provider-level adjustments
(``PLB``) close the set. Every amount is checked before a byte is written:

* per line: ``SVC02 = SVC03 + sum(line CAS)``;
* per claim: ``CLP03 = CLP04 + sum(claim and line CAS)``, ``CLP05 = sum(PR adjustments)``,
  ``CLP03 = sum(SVC02)``;
* per payment: ``BPR02 = sum(CLP04) - sum(PLB04)``, and never negative.

A result that does not balance raises :class:`X12Error` (code ``content``): a wrong 835 is a
fault, never something to send. Output is deterministic (see
:mod:`careledger.payer.x12.writer`): the same adjudications, payment and envelope give the same
bytes, so replaying the chain reproduces every 835.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal

import msgspec

from careledger.contracts.payer.model import (
    Adjustment,
    Claim,
    ClaimAdjudication,
    ClaimLine,
    ClaimParties,
    IsoDate,
    LineAdjudication,
    SignedCents,
)
from careledger.payer.x12.elements import d8
from careledger.payer.x12.errors import X12Error
from careledger.payer.x12.offchain import Address
from careledger.payer.x12.writer import Envelope, InterchangeWriter, money

VERSION = "005010X221A1"
#: CLP06 codes (X221A1); an 837 SBR09 outside them (CI commercial, BL, FI, 11) has no 835
#: equivalent and is sent as ZZ, mutually defined.
_CLP06 = frozenset(
    [
        "12",
        "13",
        "14",
        "15",
        "16",
        "17",
        "AM",
        "CH",
        "DS",
        "HM",
        "LM",
        "MA",
        "MB",
        "MC",
        "OF",
        "TV",
        "VA",
        "WC",
        "ZZ",
    ]
)


class PayerInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Loop 1000A and ``TRN03``: who pays."""

    name: str
    tax_id: str  # 9 digits: TRN03 is "1" + the payer's EIN
    address: Address
    contact_name: str
    contact_phone: str


class PayeeInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Loop 1000B: who is paid (the billing provider)."""

    name: str
    npi: str
    tax_id: str = ""
    address: Address | None = None


class BankAccount(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    routing: str  # ABA routing number (BPR07 / BPR13)
    account: str  # BPR09 / BPR15


class ProviderAdjustment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A ``PLB`` adjustment: positive amounts are withheld from the payment (a recovered
    overpayment, ``WO``), negative ones added (interest, ``L6``)."""

    reason: str  # code list 426: WO, L6, 72, FB, CS, …
    reference: str
    amount_cents: SignedCents


class Payment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One payment to one payee, as the payer's treasury made it."""

    trace_number: str
    effective: IsoDate  # BPR16
    payer: PayerInfo
    payee: PayeeInfo
    method: Literal["ACH", "CHK"] = "CHK"
    payer_bank: BankAccount | None = None
    payee_bank: BankAccount | None = None
    provider_adjustments: list[ProviderAdjustment] = msgspec.field(default_factory=list)
    fiscal_period_end: IsoDate | None = None  # PLB02; defaults to the effective date


class RemittanceItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One adjudicated claim with the off-chain parts the 835 repeats."""

    adjudication: ClaimAdjudication
    claim: Claim
    parties: ClaimParties
    filing_indicator: str = "CI"  # the 837's SBR09; CLP06 is derived from it


@dataclass(frozen=True, slots=True)
class PaymentTotals:
    """What BPR02 was made of."""

    paid_cents: int  # BPR02
    claims_paid_cents: int  # sum(CLP04)
    provider_adjustment_cents: int  # sum(PLB04)
    claims: int


def check_balance(item: RemittanceItem) -> None:
    """Raise :class:`X12Error` unless ``item`` balances per line and per claim."""
    adj, claim = item.adjudication, item.claim
    where = f"claim {claim.claim_id}"
    if adj.disposition == "pended":
        raise X12Error("content", f"{where} is pended: no 835 until it is decided")
    # A reversal (CLP02 22) repeats the claim with every amount negated.
    sign = -1 if adj.status == "22" else 1
    if adj.total_charge_cents != sign * claim.total_charge_cents:
        raise X12Error("content", f"{where}: adjudicated charge differs from the claim")
    line_adjusted = 0
    for line in adj.lines:
        adjusted = sum(a.amount_cents for a in line.adjustments)
        if line.charge_cents != line.paid_cents + adjusted:
            raise X12Error("content", f"{where} line {line.line} does not balance")
        line_adjusted += adjusted
    claim_adjusted = sum(a.amount_cents for a in adj.adjustments)
    if adj.total_charge_cents != adj.paid_cents + claim_adjusted + line_adjusted:
        raise X12Error("content", f"{where}: CLP03 != CLP04 + adjustments")
    if adj.lines and sum(line.charge_cents for line in adj.lines) != adj.total_charge_cents:
        raise X12Error("content", f"{where}: line charges do not add up to CLP03")
    patient = sum(
        a.amount_cents
        for a in [*adj.adjustments, *(a for ln in adj.lines for a in ln.adjustments)]
        if a.group == "PR"
    )
    if patient != adj.patient_responsibility_cents:
        raise X12Error("content", f"{where}: CLP05 is not the sum of PR adjustments")


def payment_totals(payment: Payment, items: Sequence[RemittanceItem]) -> PaymentTotals:
    claims_paid = sum(item.adjudication.paid_cents for item in items)
    plb = sum(p.amount_cents for p in payment.provider_adjustments)
    return PaymentTotals(claims_paid - plb, claims_paid, plb, len(items))


class RemittanceWriter:
    """Write 835s into one interchange: ``add(payment, items)`` per payment, then ``close()``."""

    def __init__(self, out: BinaryIO, envelope: Envelope) -> None:
        self._writer = InterchangeWriter(out, envelope, transaction="835", version=VERSION)
        self._moment = envelope.moment

    def add(self, payment: Payment, items: Sequence[RemittanceItem]) -> PaymentTotals:
        for item in items:
            check_balance(item)
        totals = payment_totals(payment, items)
        if totals.paid_cents < 0:
            raise X12Error("content", "provider adjustments exceed the payment (BPR02 < 0)")
        w = self._writer
        w.begin_set()
        _financial(w, payment, totals.paid_cents)
        w.segment("TRN", "1", payment.trace_number, "1" + payment.payer.tax_id)
        w.segment("DTM", "405", self._moment.strftime("%Y%m%d"))
        _parties(w, payment)
        if items:
            w.segment("LX", "1")
        for item in items:
            _claim(w, item)
        _provider_adjustments(w, payment)
        w.end_set()
        return totals

    def close(self) -> None:
        self._writer.close()


def write_835(
    out: BinaryIO,
    envelope: Envelope,
    payments: Iterable[tuple[Payment, Sequence[RemittanceItem]]],
) -> list[PaymentTotals]:
    """Write one interchange holding one 835 per (payment, claims) pair."""
    writer = RemittanceWriter(out, envelope)
    totals = [writer.add(payment, items) for payment, items in payments]
    writer.close()
    return totals


def _financial(w: InterchangeWriter, payment: Payment, amount: int) -> None:
    effective = d8(payment.effective)
    if amount == 0:
        w.segment("BPR", "H", "0", "C", "NON", *[""] * 11, effective)
        return
    if payment.method == "CHK":
        w.segment("BPR", "I", money(amount), "C", "CHK", *[""] * 11, effective)
        return
    if payment.payer_bank is None or payment.payee_bank is None:
        raise X12Error("content", "an ACH payment needs both bank accounts")
    w.segment(
        "BPR", "I", money(amount), "C", "ACH", "CCP",
        "01", payment.payer_bank.routing, "DA", payment.payer_bank.account,
        "1" + payment.payer.tax_id, "",
        "01", payment.payee_bank.routing, "DA", payment.payee_bank.account,
        effective,
    )  # fmt: skip


def _parties(w: InterchangeWriter, payment: Payment) -> None:
    payer, payee = payment.payer, payment.payee
    w.segment("N1", "PR", payer.name)
    _address(w, payer.address)
    w.segment("PER", "BL", payer.contact_name, "TE", payer.contact_phone)
    w.segment("N1", "PE", payee.name, "XX", payee.npi)
    if payee.address is not None:
        _address(w, payee.address)
    if payee.tax_id:
        w.segment("REF", "TJ", payee.tax_id)


def _address(w: InterchangeWriter, address: Address) -> None:
    w.segment("N3", address.line1, address.line2)
    w.segment("N4", address.city, address.state, address.postal_code)


def _claim(w: InterchangeWriter, item: RemittanceItem) -> None:
    adj, claim, people = item.adjudication, item.claim, item.parties
    facility = claim.facility_type if claim.kind == "institutional" else claim.place_of_service
    if facility is None:
        facility = next((ln.place_of_service for ln in claim.lines if ln.place_of_service), "11")
    w.segment(
        "CLP", claim.claim_id, adj.status, money(adj.total_charge_cents), money(adj.paid_cents),
        money(adj.patient_responsibility_cents),
        item.filing_indicator if item.filing_indicator in _CLP06 else "ZZ",
        adj.payer_claim_control_number, facility, claim.frequency_code,
    )  # fmt: skip
    _adjustments(w, adj.adjustments)
    if people.patient_last:
        w.segment("NM1", "QC", "1", people.patient_last, people.patient_first)
        w.segment(
            "NM1", "IL", "1", people.subscriber_last, people.subscriber_first,
            "", "", "", "MI", people.member_id,
        )  # fmt: skip
    else:
        w.segment(
            "NM1", "QC", "1", people.subscriber_last, people.subscriber_first,
            "", "", "", "MI", people.member_id,
        )  # fmt: skip
    if adj.remarks:
        w.segment("MOA", "", "", *adj.remarks[:5])
    if claim.statement_from:
        w.segment("DTM", "232", d8(claim.statement_from))
    if claim.statement_to:
        w.segment("DTM", "233", d8(claim.statement_to))
    billed = {line.line: line for line in claim.lines}
    for line in adj.lines:
        _service(w, line, billed.get(line.line))


def _service(w: InterchangeWriter, line: LineAdjudication, billed: ClaimLine | None) -> None:
    qualifier, _, code = line.code.partition(":")
    composite = [qualifier, code, *line.modifiers]
    revenue = ""
    if billed is not None and billed.revenue_code and qualifier == "HC":
        revenue = billed.revenue_code
    w.segment(
        "SVC", composite, money(line.charge_cents), money(line.paid_cents), revenue,
        str(line.units_paid) if line.units_paid != 1 else "",
    )  # fmt: skip
    if billed is not None:
        if billed.service_to and billed.service_to != billed.service_from:
            w.segment("DTM", "150", d8(billed.service_from))
            w.segment("DTM", "151", d8(billed.service_to))
        else:
            w.segment("DTM", "472", d8(billed.service_from))
    _adjustments(w, line.adjustments)
    w.segment("REF", "6R", str(line.line))
    w.segment("AMT", "B6", money(line.allowed_cents))
    for remark in line.remarks:
        w.segment("LQ", "HE", remark)


def _adjustments(w: InterchangeWriter, adjustments: Sequence[Adjustment]) -> None:
    """CAS segments: one per group code, at most six reason/amount/quantity triplets each."""
    by_group: dict[str, list[Adjustment]] = {}
    for adjustment in adjustments:
        by_group.setdefault(adjustment.group, []).append(adjustment)
    for group, items in by_group.items():
        for start in range(0, len(items), 6):
            elements: list[str] = [group]
            for a in items[start : start + 6]:
                quantity = "" if a.quantity is None else str(a.quantity)
                elements += [a.reason, money(a.amount_cents), quantity]
            w.segment("CAS", *elements)


def _provider_adjustments(w: InterchangeWriter, payment: Payment) -> None:
    adjustments = payment.provider_adjustments
    if not adjustments:
        return
    period = d8(payment.fiscal_period_end or payment.effective)
    for start in range(0, len(adjustments), 6):
        elements: list[str | list[str]] = [payment.payee.npi, period]
        for p in adjustments[start : start + 6]:
            elements += [[p.reason, p.reference], money(p.amount_cents)]
        w.segment("PLB", *elements)
