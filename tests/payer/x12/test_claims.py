"""837P/837I in: the canonical claim and its off-chain part, 999 and 277CA out (pyx12 checks
every document written), and 837 re-emitted from the canonical form reads back the same."""

from __future__ import annotations

import io

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careledger.contracts.payer.model import Claim, OtherCoverage
from careledger.payer.x12.bench import synthetic_claims
from careledger.payer.x12.emit837 import write_837
from careledger.payer.x12.errors import X12Error
from careledger.payer.x12.inbound import Inbound837
from careledger.payer.x12.offchain import ClaimOffChain
from careledger.payer.x12.writer import Envelope, Party
from tests.payer.x12.conftest import assert_pyx12_accepts, segments, vector
from tests.payer.x12.directory import SAMPLE_DIRECTORY, MemoryDirectory
from tests.payer.x12.factories import ENVELOPE, billed_claims

SAMPLE = vector("837p_lfh_example1_A1.x12")


def _receive(data: bytes, directory: MemoryDirectory = SAMPLE_DIRECTORY) -> tuple[Inbound837, list]:
    inbound = Inbound837(io.BytesIO(data), directory=directory)
    ack = inbound.acknowledge()
    assert_pyx12_accepts(ack.data)
    claims = list(inbound.claims())
    if inbound.status_report:
        assert_pyx12_accepts(inbound.status_report)
    return inbound, claims


def test_the_sample_837p_becomes_a_canonical_claim_with_phi_kept_apart() -> None:
    _, claims = _receive(SAMPLE)
    (parsed,) = claims
    claim, off = parsed.claim, parsed.offchain
    assert parsed.rejection is None
    assert claim is not None
    assert off is not None
    assert claim.claim_id == "26463774"
    assert claim.kind == "professional"
    assert claim.payer == "keyhealth"
    assert claim.billing_npi == "1912301953"
    assert claim.total_charge_cents == 10_000
    assert claim.place_of_service == "11"
    assert [(ln.procedure_code, ln.charge_cents, ln.units) for ln in claim.lines] == [
        ("99213", 4000, 1),
        ("87070", 1500, 1),
        ("99214", 3500, 1),
        ("86663", 1000, 1),
    ]
    assert claim.lines[2].service_from == "2006-10-10"
    assert claim.member.startswith("ph1")
    # no name, birth date or member id in the canonical claim
    encoded = msgspec.json.encode(claim)
    for phi in (b"SMITH", b"TED", b"JS00111223333", b"1973"):
        assert phi not in encoded
    assert off.parties.member_id == "JS00111223333"
    assert (off.parties.patient_last, off.parties.patient_first) == ("SMITH", "TED")
    assert off.parties.birth_date == "1973-05-01"
    assert off.parties.relationship == "child"
    assert off.patient_address is not None
    assert off.patient_address.postal_code == "33413"
    assert off.icd9_diagnoses == ("0340", "V7389")


def test_the_277ca_accepts_the_sample_claim() -> None:
    inbound, _ = _receive(SAMPLE)
    stc = [s for s in segments(inbound.status_report) if s[0] == "STC"]
    assert stc[-1][1:5] == ["A2:20", "20131031", "WQ", "100"]


def test_the_bad_837_gets_a_999_naming_the_bad_date_and_count() -> None:
    inbound, claims = _receive(vector("837p_bad.x12"))
    assert claims == []
    assert inbound.status_report == b""
    ack = Inbound837(io.BytesIO(vector("837p_bad.x12")), directory=SAMPLE_DIRECTORY).acknowledge()
    found = [s for s in segments(ack.data) if s[0] in ("IK3", "IK4", "IK5", "AK9")]
    assert found == [
        ["IK3", "DMG", "24", "2010", "8"],
        ["IK4", "2", "1251", "8", "19731341"],
        ["IK5", "R", "4", "5"],
        ["AK9", "R", "1", "1", "0"],
    ]


@pytest.mark.parametrize(
    ("directory", "edit", "stc01"),
    [
        (MemoryDirectory({}), None, "A3:116:PR"),
        (MemoryDirectory({"999996666": "keyhealth"}, members=set()), None, "A3:33:IL"),
        (SAMPLE_DIRECTORY, (b"CLM*26463774*100.00", b"CLM*26463774*101.00"), "A7:400"),
        (SAMPLE_DIRECTORY, (b"SV1*HC:99213*40.00*UN*1.00", b"SV1*HC:99213*40.00*UN*1.5"), "A7:21"),
        (SAMPLE_DIRECTORY, (b"SV1*HC:99213*40.00", b"SV1*HC:9921*40.00"), "A7:21"),
    ],
    ids=["unknown-payer", "unknown-member", "out-of-balance", "fractional-units", "bad-code"],
)
def test_claims_that_cannot_be_adjudicated_are_rejected_in_the_277ca(
    directory: MemoryDirectory, edit: tuple[bytes, bytes] | None, stc01: str
) -> None:
    data = SAMPLE if edit is None else SAMPLE.replace(*edit)
    inbound, claims = _receive(data, directory)
    assert [c.claim for c in claims] == [None]
    assert claims[0].rejection is not None
    stc = [s for s in segments(inbound.status_report) if s[0] == "STC"][-1]
    assert stc[1] == stc01
    assert stc[3] == "U"
    assert stc[12]  # the reason in words


def test_structure_problems_name_segment_and_element() -> None:
    data = SAMPLE.replace(b"HL*3*2*23*0", b"HL*3*9*23*0").replace(b"PAT*19~", b"ZZZ*19~")
    ack = Inbound837(io.BytesIO(data), directory=SAMPLE_DIRECTORY).acknowledge()
    assert_pyx12_accepts(ack.data)
    found = [s for s in segments(ack.data) if s[0] in ("IK3", "IK4")]
    assert ["IK3", "HL", "19", "2000", "8"] in found
    assert ["IK4", "2", "734", "7", "9"] in found
    assert ["IK3", "ZZZ", "20", "2000", "1"] in found


def _reread(data: bytes) -> list[tuple[Claim, ClaimOffChain]]:
    directory = MemoryDirectory({"999996666": "keyhealth", "KEYHEALTH01": "keyhealth"})
    _, claims = _receive(data, directory)
    out = []
    for parsed in claims:
        assert parsed.rejection is None, parsed.rejection
        assert parsed.claim is not None
        assert parsed.offchain is not None
        out.append((parsed.claim, parsed.offchain))
    return out


def _same_except_created(a: tuple[Claim, ClaimOffChain], b: tuple[Claim, ClaimOffChain]) -> None:
    claim = msgspec.structs.replace(b[0], created=a[0].created)
    submission = msgspec.structs.replace(b[1].submission, created=a[1].submission.created)
    assert claim == a[0]
    assert msgspec.structs.replace(b[1], submission=submission) == a[1]


def test_a_reemitted_837p_is_accepted_by_pyx12_and_reads_back_the_same() -> None:
    original = _reread(SAMPLE)
    out = io.BytesIO()
    write_837(out, ENVELOPE, original)
    assert_pyx12_accepts(out.getvalue())
    (again,) = _reread(out.getvalue())
    _same_except_created(original[0], again)


def test_an_837i_round_trip_with_other_coverage() -> None:
    claims = []
    for claim, off in synthetic_claims(3):
        lines = [msgspec.structs.replace(ln, revenue_code="0450") for ln in claim.lines]
        claim = msgspec.structs.replace(
            claim,
            kind="institutional",
            place_of_service=None,
            facility_type="13",
            lines=[msgspec.structs.replace(ln, diagnosis_pointers=[]) for ln in lines],
            statement_from="2026-02-01",
            statement_to="2026-02-28",
            prior_authorization="PA-2026-0001",
            other_coverage=[
                OtherCoverage(
                    payer="OTHERPAYER1",
                    responsibility="primary",
                    relationship="self",
                    paid_cents=1234,
                    adjudicated=True,
                )
            ],
        )
        claims.append(
            (
                claim,
                msgspec.structs.replace(off, patient_status="01", claim_flags=("", "A", "Y", "I")),
            )
        )
    out = io.BytesIO()
    envelope = Envelope(Party("ZZ", "TGJ23"), Party("ZZ", "KEYHEALTH01"), ENVELOPE.moment, b"i")
    write_837(out, envelope, claims, institutional=True)
    assert_pyx12_accepts(out.getvalue())
    again = _reread(out.getvalue())
    assert len(again) == 3
    for before, after in zip(claims, again, strict=True):
        _same_except_created(before, after)


def test_a_claim_of_the_wrong_kind_is_not_written() -> None:
    with pytest.raises(X12Error):
        write_837(io.BytesIO(), ENVELOPE, synthetic_claims(1), institutional=True)


def test_an_element_holding_a_separator_is_refused_not_written() -> None:
    claim, off = synthetic_claims(1)[0]
    parties = msgspec.structs.replace(off.parties, subscriber_last="O*BRIEN~ISA")
    with pytest.raises(X12Error) as caught:
        write_837(io.BytesIO(), ENVELOPE, [(claim, msgspec.structs.replace(off, parties=parties))])
    assert caught.value.code == "content"


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.booleans(), st.data())
def test_any_generated_claim_batch_round_trips_and_every_document_passes_pyx12(
    institutional: bool, data: st.DataObject
) -> None:
    count = data.draw(st.integers(min_value=1, max_value=4))
    claims = [data.draw(billed_claims(i, institutional)) for i in range(count)]
    out = io.BytesIO()
    write_837(out, ENVELOPE, claims, institutional=institutional, per_set=2)
    assert_pyx12_accepts(out.getvalue())
    again = _reread(out.getvalue())  # 999 and 277CA of the re-read checked by pyx12 too
    assert len(again) == count
    for before, after in zip(claims, again, strict=True):
        _same_except_created(before, after)


def test_the_same_file_always_gets_the_same_277ca() -> None:
    first, _ = _receive(SAMPLE)
    second, _ = _receive(SAMPLE)
    assert first.status_report == second.status_report != b""
