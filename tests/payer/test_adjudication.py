"""The adjudication rules, one behaviour at a time (the pure engine)."""

from __future__ import annotations

import msgspec

from careledger.contracts.payer.adjudication import Outcome, PriorLine, YearAccumulator
from careledger.contracts.payer.benefits import Accumulator
from careledger.contracts.payer.model import AuthorizationRecord, OtherCoverage, day_number
from careledger.contracts.phi_guard import screen_text
from tests.payer.factories import (
    JAN1,
    MEMBER,
    PAYER,
    coverage,
    line,
    reasons,
    record,
    run,
    submission,
)


def met(deductible: int = 0, copay: int = 0, coinsurance: int = 0) -> list[YearAccumulator]:
    return [YearAccumulator(2026, Accumulator(deductible, copay, coinsurance))]


def reason(out: Outcome) -> str:
    return out.adjudication.lines[0].adjustments[0].reason


def test_deductible_then_copay_then_coinsurance() -> None:
    out = run(submission(line(charge=15_000)), accumulators=met(deductible=45_000))
    (adj,) = out.adjudication.lines
    assert reasons(adj) == [("CO", "45", 5_000), ("PR", "1", 5_000), ("PR", "3", 2_500),
                            ("PR", "2", 500)]  # fmt: skip
    assert (adj.allowed_cents, adj.paid_cents) == (10_000, 2_000)
    assert out.adjudication.patient_responsibility_cents == 8_000
    assert out.accumulators == [YearAccumulator(2026, Accumulator(50_000, 2_500, 500))]


def test_out_of_pocket_maximum_caps_what_the_patient_pays() -> None:
    out = run(submission(line(code="73560", charge=8_000)),
              accumulators=met(deductible=50_000, coinsurance=249_900))  # fmt: skip
    (adj,) = out.adjudication.lines
    assert reasons(adj) == [("PR", "2", 100)]
    assert adj.paid_cents == 7_900


def test_services_outside_the_deductible_pay_from_the_first_dollar() -> None:
    out = run(submission(line(code="80053", charge=1_500)))
    assert out.adjudication.paid_cents == 1_500


def test_excluded_and_unlisted_codes_are_denied_with_their_reasons() -> None:
    out = run(submission(line(1, "15820", 5_000), line(2, "99499", 4_000)))
    first, second = out.adjudication.lines
    assert reasons(first) == [("CO", "96", 5_000)]
    assert first.remarks == ["N130"]
    assert reasons(second) == [("CO", "204", 4_000)]
    assert out.adjudication.status == "4"
    assert out.adjudication.disposition == "denied"
    assert out.new_lines == []


def test_timely_filing_counts_from_the_last_day_of_service() -> None:
    dos = day_number("2026-03-02")
    assert reasons(run(submission(), received=dos + 91).adjudication.lines[0]) == [
        ("CO", "29", 15_000)
    ]
    assert run(submission(), received=dos + 90).adjudication.paid_cents == 0  # deductible


def test_eligibility_on_the_date_of_service() -> None:
    later = coverage(start=day_number("2026-04-01"))
    ended = coverage(end=day_number("2026-02-28"))
    assert reason(run(submission(), coverages=[record(later)])) == "26"
    assert reason(run(submission(), coverages=[record(ended)])) == "27"
    assert reason(run(submission(), coverages=[])) == "31"
    revoked = run(submission(), revoked=["gold"]).adjudication
    assert revoked.lines[0].adjustments[0].reason == "27"
    assert revoked.plan is None


def _auth(**changes: object) -> AuthorizationRecord:
    base = AuthorizationRecord(
        "PA-ab12", PAYER, MEMBER, ["HC:27447"], 1, JAN1, day_number("2026-06-30"), "approved"
    )
    return msgspec.structs.replace(base, **changes)


def test_prior_authorization_is_matched_by_number_member_code_period_and_units() -> None:
    knee = submission(line(code="27447", charge=2_000_000), prior_authorization="PA-ab12")
    missing = run(submission(line(code="27447", charge=2_000_000))).adjudication.lines[0]
    assert reasons(missing) == [("CO", "197", 2_000_000)]
    ok = run(knee, authorization=_auth())
    assert ok.adjudication.lines[0].allowed_cents == 1_500_000
    assert ok.authorization_used == 1
    stranger = "ph1" + "c3" * 32
    for wrong in (_auth(codes=["HC:27446"]), _auth(status="denied"),
                  _auth(end=day_number("2026-03-01")), _auth(member=stranger)):  # fmt: skip
        adj = run(knee, authorization=wrong).adjudication.lines[0]
        assert (adj.adjustments[0].reason, adj.remarks) == ("197", ["N54"])
    used_up = run(knee, authorization=_auth(), authorization_used=1).adjudication.lines[0]
    assert reasons(used_up) == [("CO", "198", 2_000_000)]


def _prior(sub_line: int = 1, **changes: object) -> PriorLine:
    earlier = run(submission(claim_id="PCN-OLD")).new_lines[sub_line - 1]
    return msgspec.structs.replace(earlier, **changes)


def test_an_exact_duplicate_is_denied_oa_18() -> None:
    out = run(submission(), prior_lines=[_prior()])
    assert reasons(out.adjudication.lines[0]) == [("OA", "18", 15_000)]
    assert out.adjudication.status == "4"
    assert out.adjudication.related == _prior().claim_key
    assert out.accumulators == []  # nothing accrued


def test_a_suspect_duplicate_pends_the_claim() -> None:
    for different in (_prior(charge_cents=14_000), _prior(modifiers=["25"]),
                      _prior(rendering="cd" * 32)):  # fmt: skip
        out = run(submission(), prior_lines=[different])
        assert out.adjudication.disposition == "pended"
        assert out.adjudication.lines == []
        assert out.new_lines == []
    reviewed = run(submission(), prior_lines=[_prior(charge_cents=14_000)], review="duplicate")
    assert reasons(reviewed.adjudication.lines[0]) == [("OA", "18", 15_000)]
    cleared = run(submission(), prior_lines=[_prior(charge_cents=14_000)], review="not-duplicate")
    assert cleared.adjudication.disposition == "processed"


def test_repeat_and_laterality_modifiers_are_not_duplicates() -> None:
    for mod in ("76", "77", "91"):
        out = run(submission(line(modifiers=[mod])), prior_lines=[_prior()])
        assert out.adjudication.disposition == "processed", mod
    left = run(submission(line(modifiers=["LT"])), prior_lines=[_prior(modifiers=["RT"])])
    assert left.adjudication.disposition == "processed"
    both_right = run(submission(line(modifiers=["RT"])), prior_lines=[_prior(modifiers=["RT"])])
    assert reasons(both_right.adjudication.lines[0])[0] == ("OA", "18", 15_000)


def test_a_line_repeated_within_one_claim_is_a_duplicate() -> None:
    out = run(submission(line(1), line(2)))
    assert reasons(out.adjudication.lines[1]) == [("OA", "18", 15_000)]


def test_dates_that_do_not_overlap_are_not_duplicates() -> None:
    out = run(submission(line(service_from="2026-03-09")), prior_lines=[_prior()])
    assert out.adjudication.disposition == "processed"


def _primary_paid(paid: int, adjudicated: bool = True) -> OtherCoverage:
    return OtherCoverage("PAYERA", "primary", "self", paid, adjudicated=adjudicated)


def test_secondary_pays_what_the_primary_left_up_to_its_own_benefit() -> None:
    dependent = [record(coverage(relationship="child"))]
    deductible_met = met(deductible=50_000)

    def as_secondary(primary_paid: int) -> Outcome:
        sub = submission(line(charge=10_000), responsibility="secondary",
                         other_coverage=[_primary_paid(primary_paid)])  # fmt: skip
        return run(sub, coverages=dependent, accumulators=deductible_met)

    # As primary this plan would allow 10,000: copay 2,500, coinsurance 1,500, pay 6,000.
    covers_rest = as_secondary(6_000)
    (adj,) = covers_rest.adjudication.lines
    assert covers_rest.adjudication.status == "2"
    assert reasons(adj) == [("OA", "23", 6_000)]
    assert adj.paid_cents == 4_000
    own_benefit = as_secondary(1_000)
    (adj,) = own_benefit.adjudication.lines
    assert reasons(adj) == [("OA", "23", 1_000), ("PR", "3", 2_500), ("PR", "2", 500)]
    assert adj.paid_cents == 6_000
    assert own_benefit.accumulators[0].accumulator == Accumulator(50_000, 2_500, 500)


def test_secondary_without_the_primary_s_payment_is_denied_co_22() -> None:
    sub = submission(responsibility="secondary", other_coverage=[_primary_paid(0, False)])
    out = run(sub, coverages=[record(coverage(relationship="child"))])
    assert reasons(out.adjudication.lines[0]) == [("CO", "22", 15_000)]
    assert out.adjudication.lines[0].remarks == ["MA04"]


def test_the_plan_covering_the_member_as_subscriber_is_primary() -> None:
    # The provider declared this payer secondary, but here the member is the subscriber and
    # the other plan covers them as a dependent: NAIC non-dependent/dependent rule.
    other = OtherCoverage("PAYERA", "primary", "spouse", 0)
    out = run(submission(responsibility="secondary", other_coverage=[other]))
    assert out.adjudication.status == "1"


def test_the_phi_guard_accepts_a_qualified_procedure_code_and_nothing_like_it() -> None:
    assert screen_text("HC:99213") is None
    for text in ("99213", "HC:902101", "XX:90210", "HC:90210 ", "HC:90210:1"):
        assert screen_text(text) is not None, text
