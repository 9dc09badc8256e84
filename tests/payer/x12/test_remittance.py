"""835 out: accepted by pyx12 and balanced (per line, per claim, per payment) for any generated
adjudication, byte-identical when rebuilt from the same inputs, refused when it cannot balance."""

from __future__ import annotations

import dataclasses
import io
from decimal import Decimal

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careledger.contracts.payer.model import Adjustment
from careledger.payer.x12.envelope import Interchange
from careledger.payer.x12.errors import X12Error
from careledger.payer.x12.remit835 import (
    Payment,
    ProviderAdjustment,
    RemittanceItem,
    write_835,
)
from tests.payer.x12.conftest import assert_pyx12_accepts, vector
from tests.payer.x12.factories import ENVELOPE, payments, remittance_items, reversal_of


def _amount(value: str) -> Decimal:
    return Decimal(value or "0")


def _close_line(line: dict | None, problems: list[str]) -> None:
    if line and line["charge"] - line["paid"] != line["cas"]:
        problems.append(f"line {line} does not balance")


def unbalanced(data: bytes) -> list[str]:
    """Read an 835 back with CareLedger's reader and list every balance that does not hold."""
    problems: list[str] = []
    interchange = Interchange(io.BytesIO(data))
    for group in interchange.groups():
        for tx in group.sets():
            bpr = Decimal(0)
            paid = plb = Decimal(0)
            claim: dict | None = None
            line: dict | None = None
            claims: list[dict] = []

            for seg in tx.body():
                if seg.id == "BPR":
                    bpr = _amount(seg.get(2))
                elif seg.id == "CLP":
                    _close_line(line, problems)
                    line = None
                    claim = {"id": seg.get(1), "charge": _amount(seg.get(3))}
                    claim.update(paid=_amount(seg.get(4)), pr=_amount(seg.get(5)))
                    claim.update(cas=Decimal(0), cas_pr=Decimal(0), svc=Decimal(0), lines=0)
                    claims.append(claim)
                    paid += claim["paid"]
                elif seg.id == "SVC" and claim is not None:
                    _close_line(line, problems)
                    line = {"charge": _amount(seg.get(2)), "paid": _amount(seg.get(3))}
                    line["cas"] = Decimal(0)
                    claim["svc"] += line["charge"]
                    claim["lines"] += 1
                elif seg.id == "CAS" and claim is not None:
                    total = sum(_amount(seg.get(i)) for i in range(3, 19, 3))
                    claim["cas"] += total
                    if seg.get(1) == "PR":
                        claim["cas_pr"] += total
                    if line is not None:
                        line["cas"] += total
                elif seg.id == "PLB":
                    plb += sum(_amount(seg.get(i)) for i in range(4, 15, 2))
            _close_line(line, problems)
            for c in claims:
                if c["charge"] - c["paid"] != c["cas"]:
                    problems.append(f"claim {c['id']}: CLP03 - CLP04 != CAS")
                if c["pr"] != c["cas_pr"]:
                    problems.append(f"claim {c['id']}: CLP05 != PR CAS")
                if c["lines"] and c["svc"] != c["charge"]:
                    problems.append(f"claim {c['id']}: SVC02 do not add to CLP03")
            if bpr != paid - plb:
                problems.append(f"BPR02 {bpr} != sum(CLP04) {paid} - PLB {plb}")
    return problems


def test_the_sample_835_is_read_and_balances() -> None:
    assert unbalanced(vector("835_lfh_managed_care.x12")) == []


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(payments(), min_size=1, max_size=3))
def test_any_generated_adjudication_gives_an_835_pyx12_accepts_and_that_balances(
    batch: list[tuple[Payment, list[RemittanceItem]]],
) -> None:
    out = io.BytesIO()
    totals = write_835(out, ENVELOPE, batch)
    data = out.getvalue()
    assert unbalanced(data) == []
    assert_pyx12_accepts(data)
    for (payment, items), total in zip(batch, totals, strict=True):
        plb = sum(p.amount_cents for p in payment.provider_adjustments)
        assert total.paid_cents == sum(i.adjudication.paid_cents for i in items) - plb
        assert total.paid_cents >= 0
    again = io.BytesIO()
    write_835(again, ENVELOPE, batch)
    assert again.getvalue() == data  # replaying the same inputs gives the same bytes


few = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plain(payment: Payment) -> Payment:
    return msgspec.structs.replace(payment, provider_adjustments=[])


def _write(payment: Payment, item: RemittanceItem, **changes: object) -> bytes:
    changed = msgspec.structs.replace(item.adjudication, **changes)
    out = io.BytesIO()
    write_835(
        out, ENVELOPE, [(_plain(payment), [msgspec.structs.replace(item, adjudication=changed)])]
    )
    return out.getvalue()


@few
@given(payments())
def test_control_numbers_follow_the_seed(batch: tuple[Payment, list[RemittanceItem]]) -> None:
    first, second = io.BytesIO(), io.BytesIO()
    write_835(first, ENVELOPE, [batch])
    write_835(second, dataclasses.replace(ENVELOPE, seed=b"other"), [batch])
    assert first.getvalue() != second.getvalue()
    isa13 = first.getvalue().split(b"~")[0].split(b"*")[13]
    assert len(isa13) == 9
    assert isa13.isdigit()


@few
@given(payments(), remittance_items())
def test_an_unbalanced_line_is_refused(batch: tuple[Payment, list], item: RemittanceItem) -> None:
    line = item.adjudication.lines[0]
    broken = msgspec.structs.replace(line, paid_cents=line.paid_cents + 1)
    with pytest.raises(X12Error, match="does not balance"):
        _write(batch[0], item, lines=[broken, *item.adjudication.lines[1:]])


@few
@given(payments(), remittance_items())
def test_patient_responsibility_must_be_the_pr_adjustments(
    batch: tuple[Payment, list], item: RemittanceItem
) -> None:
    wrong = item.adjudication.patient_responsibility_cents + 5
    with pytest.raises(X12Error, match="CLP05"):
        _write(batch[0], item, patient_responsibility_cents=wrong)


@few
@given(payments(), remittance_items())
def test_a_pended_claim_gets_no_835(batch: tuple[Payment, list], item: RemittanceItem) -> None:
    with pytest.raises(X12Error, match="pended"):
        _write(batch[0], item, disposition="pended")


@few
@given(payments())
def test_recoveries_larger_than_the_payment_are_refused(
    batch: tuple[Payment, list[RemittanceItem]],
) -> None:
    payment, items = batch
    paid = sum(i.adjudication.paid_cents for i in items)
    greedy = msgspec.structs.replace(
        payment, provider_adjustments=[ProviderAdjustment("WO", "X", paid + 1)]
    )
    with pytest.raises(X12Error, match="BPR02"):
        write_835(io.BytesIO(), ENVELOPE, [(greedy, items)])


@few
@given(payments(), remittance_items())
def test_a_claim_level_adjustment_is_written_and_balances(
    batch: tuple[Payment, list], item: RemittanceItem
) -> None:
    adj = item.adjudication
    if adj.paid_cents == 0:
        return
    data = _write(
        batch[0],
        item,
        paid_cents=adj.paid_cents - 1,
        adjustments=[Adjustment(group="OA", reason="23", amount_cents=1)],
    )
    assert b"CAS*OA*23*0.01~" in data
    assert unbalanced(data) == []


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payments())
def test_a_reversal_and_its_correction_net_out_in_one_payment(
    batch: tuple[Payment, list[RemittanceItem]],
) -> None:
    payment, items = batch
    payment = _plain(payment)
    corrected = items[0]
    out = io.BytesIO()
    (total,) = write_835(out, ENVELOPE, [(payment, [reversal_of(corrected), *items])])
    data = out.getvalue()
    assert total.paid_cents == sum(i.adjudication.paid_cents for i in items[1:])
    assert b"*22*-" in data  # CLP02 22 with negated amounts
    assert unbalanced(data) == []
    assert_pyx12_accepts(data)
