"""The canonical claim and its ledger form: checks a user would hit, and what leaves for the
ledger."""

from __future__ import annotations

import msgspec
import pytest

from careledger.contracts.payer.model import (
    AuthorizationRecord,
    ClaimAdjudication,
    ClaimSubmission,
    OtherCoverage,
    day_number,
    iso_day,
)
from careledger.contracts.phi_guard import check_schema
from careledger.errors import InvalidInput
from careledger.payer.ledger_form import ClaimKeyer, claim_digest, ledger_form
from tests.payer.factories import KEYER, claim, line


def test_the_ledger_form_holds_tokens_days_and_billing_codes() -> None:
    billed = claim(line(1, "99213", modifiers=["25"]), line(2, "J1100", 900, units=3),
                   diagnoses=["S72001A"], rendering_npi="1987654327")  # fmt: skip
    form = ledger_form(billed, KEYER)
    encoded = msgspec.json.encode(form).decode()
    for clear in ("PCN-A1", "1234567893", "1987654327", "2026-03-02", "S72001A"):
        assert clear not in encoded
    assert [x.code for x in form.lines] == ["HC:99213", "HC:J1100"]
    assert form.lines[0].service_from == day_number("2026-03-02") == form.lines[0].service_to
    assert form.lines[0].rendering == KEYER.provider("1987654327") != form.billing
    assert form.digest == claim_digest(billed, KEYER)
    # Another payer's key gives unrelated tokens: nobody without the key can test guesses.
    other = ledger_form(billed, ClaimKeyer(b"o" * 32))
    assert {other.claim_key, other.billing} & {form.claim_key, form.billing} == set()
    assert iso_day(day_number("2026-12-31")) == "2026-12-31"


def test_an_institutional_line_billed_by_revenue_code() -> None:
    room = line(1, None, 250_000, revenue_code="0120")
    form = ledger_form(claim(room, kind="institutional", facility_type="11"), KEYER)
    assert form.lines[0].code == "NU:0120"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"total_charge_cents": 1}, "not the sum"),
        ({"lines": [line(2), line(1)], "total_charge_cents": 30_000}, "ascending"),
        ({"lines": [line(service_to="2026-03-01")]}, "before service_from"),
        ({"lines": [line(service_from="2026-02-30")]}, "calendar date"),
        ({"lines": [line(charge=-5)], "total_charge_cents": -5}, "charge_cents"),
        ({"lines": [line(charge=150.5)], "total_charge_cents": 150.5}, "charge_cents"),
        ({"lines": [line(revenue_code="0450")]}, "revenue codes"),
        ({"lines": [line(code=None)]}, "procedure code"),
        ({"facility_type": "11"}, "facility type"),
        ({"lines": [line(diagnosis_pointers=[2])], "diagnoses": ["E119"]}, "diagnosis_pointers"),
        ({"other_coverage": [OtherCoverage("P1", "primary", "self", 99_999)]}, "paid more"),
        ({"member": "M123456789"}, "member"),
    ],
)
def test_a_bad_claim_is_refused_with_the_field_named(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        ledger_form(claim(**changes), KEYER)  # type: ignore[arg-type]


def test_a_short_claim_key_is_refused() -> None:
    with pytest.raises(InvalidInput):
        ClaimKeyer(b"short")


def test_every_on_chain_type_passes_the_strict_phi_schema() -> None:
    for kind in (ClaimSubmission, ClaimAdjudication, AuthorizationRecord):
        check_schema(kind)
