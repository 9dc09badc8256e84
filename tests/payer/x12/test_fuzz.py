"""Random damage to a valid 837 never escapes as anything but X12Error: the reader either
refuses the file or answers a 999 that pyx12 accepts as a valid 999, and the claim pass
(only reached after an acknowledgment) raises nothing else either."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careledger.payer.x12.eligibility import read_270
from careledger.payer.x12.errors import X12Error
from careledger.payer.x12.inbound import Inbound837
from tests.payer.x12.conftest import assert_pyx12_accepts, vector
from tests.payer.x12.directory import SAMPLE_DIRECTORY

GOOD = vector("837p_lfh_example1_A1.x12").replace(b"~\n", b"~")
# bytes an attacker or a broken system would use: separators, digits, letters, controls, 8-bit
ALPHABET = st.sampled_from(list(b"*:^~|\n\r\x00\x1c 0123456789ABZaz.-\xff\xc3"))


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data = bytearray(GOOD)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        action = draw(st.sampled_from(["replace", "delete", "insert", "cut"]))
        if action == "replace":
            data[at] = draw(ALPHABET)
        elif action == "delete":
            del data[at : at + draw(st.integers(min_value=1, max_value=30))]
        elif action == "insert":
            data[at:at] = bytes(draw(st.lists(ALPHABET, min_size=1, max_size=8)))
        elif at > 0:
            data = data[:at]
        if not data:
            break
    return bytes(data)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(damaged())
def test_damaged_837_is_refused_or_acknowledged_never_crashes(data: bytes) -> None:
    inbound = Inbound837(io.BytesIO(data), directory=SAMPLE_DIRECTORY)
    try:
        ack = inbound.acknowledge()
    except X12Error:
        return
    assert_pyx12_accepts(ack.data)
    try:
        claims = list(inbound.claims())
    except X12Error:  # pragma: no cover - the same file passed pass 1
        raise AssertionError("the claim pass refused a file the 999 pass read") from None
    if not ack.accepted_sets:
        assert claims == []
    if inbound.status_report:
        assert_pyx12_accepts(inbound.status_report)


INQUIRY = vector("270_lfh_subscriber.x12").replace(b"~\n", b"~")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_270_is_refused_or_read_never_crashes(data: st.DataObject) -> None:
    damaged_bytes = bytearray(INQUIRY)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        at = data.draw(st.integers(min_value=0, max_value=max(0, len(damaged_bytes) - 1)))
        damaged_bytes[at : at + data.draw(st.integers(min_value=0, max_value=3))] = bytes(
            data.draw(st.lists(ALPHABET, max_size=3))
        )
    try:
        requests = read_270(io.BytesIO(bytes(damaged_bytes)))
    except X12Error:
        return
    for request in requests:
        assert request.member_id
