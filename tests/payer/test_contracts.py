"""The ``plans`` and ``claims`` contracts over real simulation and committed state: ownership,
bad input refused with nothing written, accumulators and authorization units kept across claims,
pended claims reviewed, revoked coverage credentials, COB across two payers."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from careledger.contracts.payer.benefits import CredentialStatus
from careledger.contracts.payer.claims import ClaimRefused
from careledger.contracts.payer.model import AuthorizationRecord, OtherCoverage, day_number
from careledger.contracts.status_lists import PublishedStatusList
from careledger.credentials.status.bitstring import StatusListIssuer, StatusPurpose
from careledger.errors import ContractError, InvalidInput
from tests.payer.factories import (
    JAN1,
    MEMBER,
    PAYER,
    LedgerDouble,
    coverage,
    line,
    plain,
    plan,
    submission,
)


@pytest.fixture
def ledger() -> LedgerDouble:
    led = LedgerDouble()
    led.invoke("plans", "publish", [plain(plan())])
    led.invoke("plans", "enrol", [plain(coverage())])
    led.invoke("plans", "admit", ["Org1", True])
    return led


def submit(led: LedgerDouble, *args: Any, **changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = led.invoke(
        "claims", "submit", [plain(submission(*args, **changes))], org="Org1"
    )
    return result


def stored(led: LedgerDouble, **changes: Any) -> dict[str, Any]:
    key = submission(**changes).claim_key
    found: dict[str, Any] = led.query("claims", "adjudication", [key])
    return found


def test_only_the_owning_payer_changes_a_plan_or_enrols_members(ledger: LedgerDouble) -> None:
    with pytest.raises(ContractError, match="plans/not-owner"):
        ledger.invoke("plans", "publish", [plain(plan(deductible_cents=0))], org="Org3")
    with pytest.raises(ContractError, match="plans/not-owner"):
        ledger.invoke("plans", "publish", [plain(plan(payer="Org3"))], org="Org3")
    with pytest.raises(ContractError, match="plans/not-owner"):
        ledger.invoke("plans", "enrol", [plain(coverage("ph1" + "c3" * 32))], org="Org1")
    assert ledger.invoke("plans", "publish", [plain(plan(deductible_cents=0))]) == {
        "plan": "gold",
        "version": 2,
    }


def _bad_plans() -> list[dict[str, Any]]:
    good = plain(plan())
    negative = json.loads(json.dumps(good))
    negative["deductible_cents"] = -1
    fraction = json.loads(json.dumps(good))
    fraction["benefits"][0]["allowed_cents"] = 10.5
    bad_code = json.loads(json.dumps(good))
    bad_code["benefits"][0]["code"] = "HC:2744"
    unsorted = json.loads(json.dumps(good))
    unsorted["benefits"].reverse()
    return [negative, fraction, bad_code, unsorted]


@pytest.mark.parametrize("bad", _bad_plans())
def test_a_malformed_plan_is_refused_and_nothing_is_written(bad: dict[str, Any]) -> None:
    led = LedgerDouble()
    with pytest.raises(InvalidInput):
        led.invoke("plans", "publish", [bad])
    assert led.written() == []


def test_enrolment_in_an_unknown_plan_is_refused(ledger: LedgerDouble) -> None:
    before = ledger.written()
    with pytest.raises(ContractError, match="plans/unknown-plan"):
        ledger.invoke("plans", "enrol", [plain(coverage(plan="silver"))])
    assert ledger.written() == before


def _bad_claims() -> list[dict[str, Any]]:
    good = plain(submission())
    out = []
    for path, value in (
        (("lines", 0, "charge_cents"), -100),
        (("lines", 0, "charge_cents"), 150.0),
        (("lines", 0, "code"), "HC:9921"),
        (("lines", 0, "code"), "99213"),
        (("total_charge_cents",), 1),
        (("member",), "M123456789"),
        (("payer",), "Org 2"),
    ):
        bad = json.loads(json.dumps(good))
        target = bad
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        out.append(bad)
    return out


@pytest.mark.parametrize("bad", _bad_claims())
def test_a_malformed_claim_is_refused_and_nothing_is_written(
    ledger: LedgerDouble, bad: dict[str, Any]
) -> None:
    before = ledger.written()
    with pytest.raises(InvalidInput):
        ledger.invoke("claims", "submit", [bad], org="Org1")
    assert ledger.written() == before


def test_a_claim_number_is_adjudicated_once(ledger: LedgerDouble) -> None:
    submit(ledger)
    before = ledger.written()
    with pytest.raises(ClaimRefused, match="claims/duplicate-submission"):
        submit(ledger)
    with pytest.raises(InvalidInput, match="original_reference"):
        submit(ledger, claim_id="PCN-B2", frequency_code="7")
    with pytest.raises(ClaimRefused, match="claims/no-original"):
        submit(ledger, frequency_code="8", original_reference="0123abcd")
    assert ledger.written() == before


def test_accumulators_carry_from_claim_to_claim(ledger: LedgerDouble) -> None:
    first = submit(ledger, line(charge=40_000, code="73560", units=5))  # allowed 40,000
    assert first["patient_responsibility_cents"] == 40_000
    later = line(code="73560", charge=20_000, units=2, service_from="2026-03-10")
    second = submit(ledger, later, claim_id="PCN-B2")
    # 10,000 of deductible left, then 20 % of the remaining 6,000.
    assert second["patient_responsibility_cents"] == 10_000 + 1_200
    assert ledger.query("claims", "accumulator", [MEMBER, "gold", 2026]) == {
        "deductible_cents": 50_000,
        "copay_cents": 0,
        "coinsurance_cents": 1_200,
        "out_of_pocket_cents": 51_200,
    }


def test_exact_duplicate_denied_and_suspect_pended_then_reviewed(ledger: LedgerDouble) -> None:
    submit(ledger)
    exact = submit(ledger, claim_id="PCN-B2")
    assert (exact["status"], exact["disposition"]) == ("4", "denied")
    assert stored(ledger, claim_id="PCN-B2")["lines"][0]["adjustments"][0]["reason"] == "18"
    suspect = submit(ledger, line(charge=14_000), claim_id="PCN-C3")
    assert suspect["disposition"] == "pended"
    key = submission(line(charge=14_000), claim_id="PCN-C3").claim_key
    with pytest.raises(ClaimRefused, match="claims/not-payer"):
        ledger.invoke("claims", "review", [key, False], org="Org1")
    cleared = ledger.invoke("claims", "review", [key, False])
    assert cleared["disposition"] == "processed"
    with pytest.raises(ClaimRefused, match="claims/not-pended"):
        ledger.invoke("claims", "review", [key, True])


def test_prior_authorization_units_are_used_up_across_claims(ledger: LedgerDouble) -> None:
    auth = AuthorizationRecord(
        "PA-ab12", PAYER, MEMBER, ["HC:27447"], 1, JAN1, day_number("2026-06-30"), "approved"
    )
    ledger.seed("prior_auth", "authorization/PA-ab12", auth)
    knee = line(code="27447", charge=2_000_000)
    assert submit(ledger, knee, prior_authorization="PA-ab12")["paid_cents"] > 0
    other_knee = line(code="27447", charge=2_000_000, service_from="2026-03-20")
    again = submit(ledger, other_knee, prior_authorization="PA-ab12", claim_id="PCN-B2")
    assert again["status"] == "4"
    adj = stored(ledger, claim_id="PCN-B2")
    assert adj["lines"][0]["adjustments"][0]["reason"] == "198"


def _revoked_list(url: str, index: int) -> PublishedStatusList:
    issuer = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    lists = StatusListIssuer(url, issuer, StatusPurpose.REVOCATION)
    lists.set_status(index, True)
    doc = lists.credential(datetime(2026, 1, 1, tzinfo=UTC))
    doc["proof"] = {
        "type": "DataIntegrityProof",
        "verificationMethod": f"{issuer}#key-1",
        "proofPurpose": "assertionMethod",
        "proofValue": "z3FXQjecWufY46yg5abdVZsXqLhxhueuSoZgNSARiKBk",
    }
    raw = json.dumps(doc).encode()
    size = lists.size
    return PublishedStatusList(
        url, issuer, PAYER, "revocation", size, raw, hashlib.sha256(raw).digest(), 1, 0
    )


def test_a_revoked_coverage_credential_ends_the_coverage(ledger: LedgerDouble) -> None:
    url = "https://payer.example/status/1"
    credential = CredentialStatus(url, 7)
    ledger.invoke("plans", "enrol", [plain(coverage(credential=credential))])
    assert submit(ledger)["status"] == "1"
    key = "list/" + hashlib.sha256(url.encode()).hexdigest()[:40]
    ledger.seed("status_lists", key, _revoked_list(url, 7))
    refused = submit(ledger, line(service_from="2026-03-03"), claim_id="PCN-B2")
    assert refused["status"] == "4"
    found = stored(ledger, claim_id="PCN-B2", lines=[line(service_from="2026-03-03")])
    assert found["lines"][0]["adjustments"][0]["reason"] == "27"


def test_the_same_service_billed_to_a_secondary_payer_is_not_a_duplicate(
    ledger: LedgerDouble,
) -> None:
    ledger.invoke("plans", "publish", [plain(plan(plan="teal", payer="Org3"))], org="Org3")
    ledger.invoke("plans", "admit", ["Org1", True], org="Org3")
    ledger.invoke(
        "plans", "enrol", [plain(coverage(plan="teal", relationship="child"))], org="Org3"
    )
    primary = submit(ledger)
    assert primary["status"] == "1"
    paid = OtherCoverage("PAYERB", "primary", "self", 0, [], True)
    secondary = submit(ledger, payer="Org3", responsibility="secondary", other_coverage=[paid])
    assert (secondary["status"], secondary["disposition"]) == ("2", "processed")


def test_plaintext_identifiers_never_reach_state(ledger: LedgerDouble) -> None:
    submit(ledger, diagnoses=["S72001A"])
    raw = b"".join(
        vv.value for ns in ("plans", "claims") for _k, vv in ledger.state.range(ns, "", "")
    )
    keys = "".join(k for _ns, k in ledger.written())
    for needle in ("PCN-A1", "1234567893", "2026-03-02", "S72001A"):
        assert needle.encode() not in raw
        assert needle not in keys


def test_a_void_reverses_the_claim_and_gives_back_what_it_accrued(ledger: LedgerDouble) -> None:
    xray = line(code="73560", charge=40_000, units=5)
    first = submit(ledger, xray)
    control = first["payer_claim_control_number"]
    void = submit(ledger, xray, frequency_code="8", original_reference=control)
    assert void["status"] == "22"
    assert void["patient_responsibility_cents"] == -40_000
    reversal = ledger.query("claims", "adjudication", [first["claim_key"]])
    assert reversal is None  # the claim number is free again
    spent = ledger.query("claims", "accumulator", [MEMBER, "gold", 2026])
    assert spent["out_of_pocket_cents"] == 0
    stored_reversal = ledger.state.get("claims", f"reversal/{first['claim_key']}/{control}")
    assert stored_reversal is not None
    # The voided line left the duplicate index: the same service is a new claim, not OA 18.
    assert submit(ledger, xray)["disposition"] == "processed"


def test_a_replacement_reverses_then_adjudicates_afresh(ledger: LedgerDouble) -> None:
    first = submit(ledger, line(charge=15_000))
    control = first["payer_claim_control_number"]
    with pytest.raises(ClaimRefused, match="claims/no-original"):
        submit(ledger, frequency_code="7", original_reference="ffff0000")
    again = submit(ledger, line(charge=12_000), frequency_code="7", original_reference=control)
    assert again["reversed"] == control
    assert (again["status"], again["disposition"]) == ("1", "processed")
    assert again["payer_claim_control_number"] != control
    spent = ledger.query("claims", "accumulator", [MEMBER, "gold", 2026])
    assert spent["deductible_cents"] == 10_000  # once, not twice


def test_a_void_gives_the_authorization_units_back(ledger: LedgerDouble) -> None:
    auth = AuthorizationRecord(
        "PA-ab12", PAYER, MEMBER, ["HC:27447"], 1, JAN1, day_number("2026-06-30"), "approved"
    )
    ledger.seed("prior_auth", "authorization/PA-ab12", auth)
    knee = line(code="27447", charge=2_000_000)
    first = submit(ledger, knee, prior_authorization="PA-ab12")
    submit(ledger, knee, prior_authorization="PA-ab12", frequency_code="8",
           original_reference=first["payer_claim_control_number"])  # fmt: skip
    redo = submit(ledger, knee, prior_authorization="PA-ab12", claim_id="PCN-B2")
    assert redo["paid_cents"] > 0


def test_only_the_submitter_or_the_payer_replaces_or_voids_a_claim(ledger: LedgerDouble) -> None:
    first = submit(ledger)
    control = first["payer_claim_control_number"]
    void = plain(submission(frequency_code="8", original_reference=control))
    ledger.invoke("plans", "admit", ["Org3", True])  # a partner too, but not the submitter
    before = ledger.written()
    with pytest.raises(ClaimRefused, match="claims/not-submitter"):
        ledger.invoke("claims", "submit", [void], org="Org3")
    assert ledger.written() == before
    assert ledger.invoke("claims", "submit", [void], org=PAYER)["status"] == "22"


def test_a_payer_accepts_claims_only_from_its_trading_partners(ledger: LedgerDouble) -> None:
    before = ledger.written()
    with pytest.raises(ClaimRefused, match="claims/not-a-trading-partner"):
        ledger.invoke("claims", "submit", [plain(submission())], org="Org3")
    ledger.invoke("plans", "admit", ["Org1", False])
    with pytest.raises(ClaimRefused, match="claims/not-a-trading-partner"):
        submit(ledger)
    assert [k for k in ledger.written() if k[1].startswith("adjudication/")] == []
    assert before  # the plan and coverage were there all along
    (partner,) = ledger.query("plans", "partners", [PAYER])
    assert (partner["submitter"], partner["active"]) == ("Org1", False)
