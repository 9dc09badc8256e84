"""Base58 (the multibase ``z`` base of keys and proof values): known vectors, round trips, and
the same answers from the memo as computed afresh."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careledger.identity.did.errors import InvalidDid
from careledger.identity.did.keys import _b58decode, _b58encode, b58decode, b58encode


def test_known_vectors() -> None:
    # draft-msporny-base58 test vectors
    assert b58encode(b"Hello World!") == "2NEpo7TZRRrLZSi2U"
    assert b58encode(b"\x00\x00\x28\x7f\xb4\xcd") == "11233QC4"
    assert b58decode("11233QC4") == b"\x00\x00\x28\x7f\xb4\xcd"
    assert b58encode(bytearray(b"Hello World!")) == "2NEpo7TZRRrLZSi2U"
    assert b58encode(b"") == ""
    assert b58decode("") == b""


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_round_trip_and_memo_agree(data: bytes) -> None:
    text = b58encode(data)
    assert b58decode(text) == data
    assert _b58encode.__wrapped__(data) == text
    assert _b58decode.__wrapped__(text) == data


def test_bad_input_is_refused_every_time() -> None:
    for _ in range(2):  # a refusal is not remembered as an answer
        with pytest.raises(InvalidDid):
            b58decode("0OIl")
    with pytest.raises(TypeError):
        b58encode(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        b58encode("text")  # type: ignore[arg-type]
