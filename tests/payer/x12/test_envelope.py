"""Hostile and broken X12 input: each is refused with X12Error or answered by a rejecting 999
that pyx12 accepts as a valid 999, and nothing of a refused file is handed on."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from careledger.payer.x12.ack999 import acknowledge
from careledger.payer.x12.errors import X12Error
from careledger.payer.x12.inbound import Inbound837
from careledger.payer.x12.tokens import ISA_LENGTH, Limits, SegmentReader
from tests.payer.x12.conftest import assert_pyx12_accepts, segments, vector
from tests.payer.x12.directory import SAMPLE_DIRECTORY

GOOD = vector("837p_lfh_example1_A1.x12").replace(b"~\n", b"~")


def _edit(old: bytes, new: bytes, data: bytes = GOOD) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (GOOD[:60], "isa-truncated"),
        (b"GS*HC*1~" + GOOD, "isa-field"),
        (_edit(b"*000000005      *", b"*000000005     *"), "isa-length"),
        (_edit(b"*000000005      *", b"*000000005       *"), "isa-length"),
        (_edit(b"*00501*", b"*00401*"), "version"),
        (_edit(b"*T*:~", b"*X*:~"), "isa-field"),
        (_edit(b"*T*:~", b"*T*A~"), "separators"),  # component separator is a letter
        (_edit(b"*T*:~", b"*T*~~"), "separators"),  # component separator = terminator
        (_edit(b"*131031*1147*^*", b"*131031*1147***"), "separators"),  # repetition = element
        (_edit(b"NM1*85*2*BEN KILDARE", b"NM1*85*2*B\xc9N KILDARE"), "not-text"),
        (_edit(b"N3*234 SEAWAY ST", b"N3*234 SEA\x00WAY ST"), "not-text"),
        (GOOD[:500] + b"\x89PNG\r\n\x1a\n" + GOOD[500:], "not-text"),
        (_edit(b"~HL*3*", b"~~HL*3*"), "segment-id"),  # doubled terminator: an empty segment
        # the terminator silently changes mid-file: one giant "segment", or a short tail
        (GOOD[:400] + (GOOD[400:] * 8).replace(b"~", b"\x1c"), "segment-too-long"),
        (GOOD[:400] + (GOOD[400:] * 8).replace(b"~", b"!"), "segment-too-long"),
        (GOOD[:400] + GOOD[400:].replace(b"~", b"!"), "truncated"),
        (_edit(b"IEA*1*000000907~", b"IEA*2*000000907~"), "iea-count"),
        (_edit(b"IEA*1*000000907~", b"IEA*1*000000908~"), "iea-control"),
        (_edit(b"IEA*1*000000907~", b""), "envelope"),
        (GOOD.rstrip() + b"ST*837*0022~", "trailing-data"),
        (GOOD.rstrip()[:-5], "truncated"),
        (_edit(b"GS*HC*", b"XX*HC*"), "envelope"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_interchange_faults_are_refused_with_a_code(data: bytes, code: str) -> None:
    with pytest.raises(X12Error) as caught:
        acknowledge(io.BytesIO(data))
    assert caught.value.code == code
    assert str(caught.value).startswith(f"X12 {code}:")


def test_a_refused_interchange_hands_on_no_claim() -> None:
    broken = _edit(b"IEA*1*000000907~", b"IEA*1*000000999~")
    inbound = Inbound837(io.BytesIO(broken), directory=SAMPLE_DIRECTORY)
    with pytest.raises(X12Error):
        inbound.acknowledge()
    with pytest.raises(X12Error):
        next(inbound.claims())


def test_separators_come_from_the_isa() -> None:
    text = GOOD.decode()
    for old, new in (("~", "\n"), ("*", "|"), (":", ">"), ("^", "{")):
        text = text.replace(old, new)
    data = text.encode()
    reader = SegmentReader(io.BytesIO(data))
    assert reader.separators.element == "|"
    assert reader.separators.segment == "\n"
    ack = acknowledge(io.BytesIO(data))
    assert ack.accepted
    assert_pyx12_accepts(ack.data)


def test_one_segment_per_line_is_read() -> None:
    wrapped = GOOD.replace(b"~", b"~\r\n")
    assert acknowledge(io.BytesIO(wrapped)).accepted


class _Endless(io.RawIOBase):
    """A non-seekable stream of valid-looking bytes that never ends; counts what is read."""

    def __init__(self) -> None:
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.served == 0:
            chunk = GOOD[:ISA_LENGTH]
        else:
            chunk = b"REF*D9*1234567890~" * (len(buffer) // 18 + 1)
        n = min(len(buffer), len(chunk))
        buffer[:n] = chunk[:n]
        self.served += n
        return n


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.x12"
    with big.open("wb") as f:
        f.write(GOOD)
        f.truncate(50 * 1024 * 1024 + 1)  # sparse: 50 MB + 1 byte
    with big.open("rb") as f:
        with pytest.raises(X12Error) as caught:
            acknowledge(f)
        assert caught.value.code == "too-large"
        assert f.tell() == 0  # refused from its size, before any read


def test_an_oversized_stream_is_cut_at_the_cap() -> None:
    stream = _Endless()
    cap = Limits(max_bytes=2 * 1024 * 1024)
    with pytest.raises(X12Error) as caught:
        Inbound837(stream, directory=SAMPLE_DIRECTORY, limits=cap)  # type: ignore[arg-type]
    assert caught.value.code == "too-large"
    assert stream.served <= cap.max_bytes + cap.chunk


def _ack_segments(data: bytes, checkers: dict[str, Callable[..., None]] | None = None) -> list:
    ack = acknowledge(io.BytesIO(data), checkers=checkers)
    assert_pyx12_accepts(ack.data)
    return [s for s in segments(ack.data) if s[0] in ("AK1", "AK2", "IK3", "IK4", "IK5", "AK9")]


@pytest.mark.parametrize(
    ("data", "ik5", "ak9"),
    [
        (_edit(b"SE*40*0021~", b"SE*39*0021~"), ["IK5", "R", "4"], ["AK9", "R", "1", "1", "0"]),
        (_edit(b"SE*40*0021~", b"SE*40*0022~"), ["IK5", "R", "3"], ["AK9", "R", "1", "1", "0"]),
        (
            _edit(b"GE*1*1~", b"GE*2*1~"),
            ["IK5", "A"],
            ["AK9", "R", "2", "1", "1", "5"],
        ),
        (
            _edit(b"GE*1*1~", b"GE*1*7~"),
            ["IK5", "A"],
            ["AK9", "R", "1", "1", "1", "4"],
        ),
        (
            GOOD.replace(b"005010X222A1", b"005010X222A2"),
            ["IK5", "R", "I6"],
            ["AK9", "R", "1", "1", "0", "2"],
        ),
        (
            _edit(b"ST*837*0021*005010X222A1", b"ST*837*0021*005010X223A2"),
            ["IK5", "R", "19"],
            ["AK9", "R", "1", "1", "0"],
        ),
        (_edit(b"ST*837*", b"ST*835*"), ["IK5", "R", "6"], ["AK9", "R", "1", "1", "0"]),
    ],
    ids=["se-count", "se-control", "ge-count", "ge-control", "gs08", "st03", "st01-group"],
)
def test_envelope_errors_inside_the_interchange_get_a_rejecting_999(
    data: bytes, ik5: list[str], ak9: list[str]
) -> None:
    found = _ack_segments(data)
    assert found[0][:2] == ["AK1", "HC"]
    assert ik5 in found
    assert found[-1] == ak9


def test_a_file_with_a_bad_set_and_a_good_set_hands_on_only_the_good_one() -> None:
    body = GOOD[GOOD.index(b"ST*837") : GOOD.index(b"GE*")]
    bad = body.replace(b"ST*837*0021", b"ST*837*0022").replace(b"SE*40*0021", b"SE*41*0022")
    data = GOOD.replace(body, body + bad).replace(b"GE*1*1~", b"GE*2*1~")
    inbound = Inbound837(io.BytesIO(data), directory=SAMPLE_DIRECTORY)
    ack = inbound.acknowledge()
    assert_pyx12_accepts(ack.data)
    assert (ack.accepted_sets, ack.rejected_sets) == (1, 1)
    assert [s for s in segments(ack.data) if s[0] == "AK9"] == [["AK9", "P", "2", "2", "1"]]
    claims = list(inbound.claims())
    assert [c.set_control for c in claims] == ["0021"]


def test_the_same_file_always_gets_the_same_999() -> None:
    bad = vector("837p_bad.x12")
    assert acknowledge(io.BytesIO(bad)).data == acknowledge(io.BytesIO(bad)).data


@pytest.mark.parametrize(
    "data",
    [_edit(b"GE*1*1~", b"GE*2*1~"), _edit(b"GE*1*1~", b"GE*1*7~")],
    ids=["ge-count", "ge-control"],
)
def test_a_rejected_group_hands_on_no_claim_even_from_sets_it_accepted(data: bytes) -> None:
    inbound = Inbound837(io.BytesIO(data), directory=SAMPLE_DIRECTORY)
    ack = inbound.acknowledge()
    assert not ack.accepted
    assert list(inbound.claims()) == []
    assert inbound.status_report == b""
