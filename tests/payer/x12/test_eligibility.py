"""270 in, 271 out. pyx12 has no 5010 270/271 map, so the 271 is held to golden files (reviewed
against the X279A1 guide by hand) and to structural checks: envelope counts, the HL tree, the
trace echoed from the 270, EB elements in their places."""

from __future__ import annotations

import io

import pytest

from careledger.payer.x12.ack999 import acknowledge
from careledger.payer.x12.eligibility import (
    Benefit,
    EligibilityAnswer,
    EligibilityRequest,
    read_270,
    write_271,
)
from careledger.payer.x12.errors import X12Error
from tests.payer.x12.conftest import GOLDEN, segments, vector
from tests.payer.x12.factories import ENVELOPE

INQUIRY = vector("270_lfh_subscriber.x12")
ACTIVE = EligibilityAnswer(
    active=True,
    plan="GOLD PPO",
    coverage_start="2026-01-01",
    coverage_end="2026-12-31",
    deductible_cents=150_000,
    remaining_deductible_cents=42_000,
    out_of_pocket_max_cents=600_000,
    remaining_out_of_pocket_cents=480_000,
    copay_cents=2_500,
    coinsurance_percent=20,
    prior_authorization_codes=("70553", "27447"),
)
EB_CODES = {"1", "6", "A", "B", "C", "G", "CB"}


def _request() -> EligibilityRequest:
    (request,) = read_270(io.BytesIO(INQUIRY))
    return request


def test_the_sample_270_is_read() -> None:
    request = _request()
    assert request.member_id == "11122333301"
    assert (request.last_name, request.first_name) == ("SMITH", "ROBERT")
    assert request.birth_date == "1943-05-19"
    assert request.service_date == "2006-05-01"
    assert request.payer_id == "842610001"
    assert (request.provider_id_qualifier, request.provider_id) == ("SV", "2000035")
    assert request.trace == "93175-012547"
    assert request.service_types == ("30",)


def _write(answer: EligibilityAnswer) -> bytes:
    out = io.BytesIO()
    write_271(out, ENVELOPE, [(_request(), answer)])
    return out.getvalue()


@pytest.mark.parametrize(
    ("golden", "answer"),
    [
        ("271_active.x12", ACTIVE),
        ("271_inactive.x12", EligibilityAnswer(active=False, plan="GOLD PPO")),
        ("271_not_found.x12", EligibilityAnswer(found=False)),
    ],
)
def test_the_271_matches_its_golden_file(golden: str, answer: EligibilityAnswer) -> None:
    expected = (GOLDEN / golden).read_bytes().replace(b"~\n", b"~")
    assert _write(answer) == expected


def test_the_271_is_structurally_sound() -> None:
    data = _write(ACTIVE)
    ack = acknowledge(io.BytesIO(data))  # envelope counts and control numbers
    assert ack.accepted
    segs = segments(data)
    hls = [s for s in segs if s[0] == "HL"]
    assert [(h[1], h[2], h[3]) for h in hls] == [
        ("1", "", "20"),
        ("2", "1", "21"),
        ("3", "2", "22"),
    ]
    assert ["TRN", "2", "93175-012547", "9877281234"] in segs
    ebs = [s for s in segs if s[0] == "EB"]
    assert ebs[0][:6] == ["EB", "1", "IND", "30", "", "GOLD PPO"]
    assert all(eb[1] in EB_CODES for eb in ebs)
    amounts = {(eb[1], eb[6]): eb[7] for eb in ebs if len(eb) > 7 and eb[7]}
    assert amounts == {
        ("C", "23"): "1500",
        ("C", "29"): "420",
        ("G", "23"): "6000",
        ("G", "29"): "4800",
        ("B", "27"): "25",
    }
    prior_auth = [eb for eb in ebs if len(eb) > 13 and eb[11] == "Y"]
    assert [eb[13] for eb in prior_auth] == ["HC:27447", "HC:70553"]
    assert all(eb[3] == "" for eb in prior_auth)  # EB03 and EB13 are not both used


def test_a_member_not_found_gets_aaa_75() -> None:
    segs = segments(_write(EligibilityAnswer(found=False)))
    assert ["AAA", "N", "", "75", "C"] in segs
    assert not [s for s in segs if s[0] == "EB"]


def test_extra_benefits_are_written_after_the_summary() -> None:
    answer = EligibilityAnswer(
        active=True, benefits=(Benefit("B", service_type="98", amount_cents=4000),)
    )
    ebs = [s for s in segments(_write(answer)) if s[0] == "EB"]
    assert ebs[-1][:8] == ["EB", "B", "IND", "98", "", "", "", "40"]


@pytest.mark.parametrize(
    "data",
    [
        INQUIRY.replace(b"005010X279A1", b"004010X092A1"),
        INQUIRY.replace(b"DMG*D8*19430519", b"DMG*D8*19431319"),
        INQUIRY.replace(b"SE*13*1234", b"SE*12*1234"),
        INQUIRY.replace(b"ST*270", b"ST*271"),
        INQUIRY[:50],
    ],
    ids=["gs08", "bad-birth-date", "se-count", "not-270", "truncated"],
)
def test_a_bad_270_is_refused(data: bytes) -> None:
    with pytest.raises(X12Error):
        read_270(io.BytesIO(data))
