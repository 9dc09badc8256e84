"""Canonical CBOR: one byte string per value, everything else refused."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careledger.crypto import encoding
from careledger.crypto.hashing import hash_value
from careledger.errors import EncodingError, InvalidInput

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(values)
def test_decode_of_encode_is_the_value(value: Any) -> None:
    assert encoding.decode(encoding.encode(value)) == value


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.dictionaries(st.text(max_size=8), st.integers(), min_size=2, max_size=6))
def test_map_key_order_does_not_change_the_bytes_or_the_hash(mapping: dict[str, int]) -> None:
    reversed_mapping = dict(reversed(list(mapping.items())))
    assert encoding.encode(reversed_mapping) == encoding.encode(mapping)
    assert hash_value(reversed_mapping) == hash_value(mapping)


def test_tuples_encode_like_lists() -> None:
    assert encoding.encode((1, "a")) == encoding.encode([1, "a"])


@pytest.mark.parametrize(
    "value",
    [1.5, 0.0, float("nan"), [1, 2.0], {"amount": 10.25}, {"deep": [[{"x": 1e-9}]]}],
    ids=["float", "zero", "nan", "in-list", "in-map", "nested"],
)
def test_floats_are_refused_wherever_they_appear(value: Any) -> None:
    with pytest.raises(EncodingError, match="floats are not allowed"):
        encoding.encode(value)


@pytest.mark.parametrize(
    "value",
    [{1.5: "x"}, {b"k": 1}, {(1, 2): 1}, {1, 2}, object(), complex(1, 2)],
    ids=["float-key", "bytes-key", "tuple-key", "set", "object", "complex"],
)
def test_values_without_a_canonical_form_are_refused(value: Any) -> None:
    with pytest.raises(EncodingError):
        encoding.encode(value)


def test_subclasses_of_allowed_types_encode_like_their_base_and_are_checked_inside() -> None:
    import collections
    import enum

    class Amount(enum.IntEnum):
        TEN = 10

    ordered = collections.OrderedDict([("b", Amount.TEN), ("a", [True])])
    assert encoding.encode(ordered) == encoding.encode({"a": [True], "b": 10})
    with pytest.raises(EncodingError, match="floats are not allowed"):
        encoding.encode(collections.OrderedDict([("a", [0.5])]))
    with pytest.raises(EncodingError, match="map keys"):
        encoding.encode(collections.OrderedDict([(b"k", 1)]))


def test_bytes_decoded_again_are_judged_the_same_way() -> None:
    canonical = encoding.encode({"a": 1, "b": [b"x"]})
    non_canonical = cbor2.dumps({"b": [b"x"], "a": 1})  # keys out of canonical order
    for _ in range(3):  # a repeat may skip the re-encoding, never the verdict
        assert encoding.decode(canonical) == {"a": 1, "b": [b"x"]}
        with pytest.raises(EncodingError, match="canonical"):
            encoding.decode(non_canonical)
        assert encoding.decode(non_canonical, canonical=False) == {"a": 1, "b": [b"x"]}


def test_encoding_errors_are_invalid_input_for_callers() -> None:
    with pytest.raises(InvalidInput):
        encoding.encode(0.5)


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    shallow: Any = 1
    for _ in range(30):
        shallow = [shallow]
    encoding.encode(shallow)
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(EncodingError, match="nested deeper"):
        encoding.encode(deep)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x18\x01",  # 1 in a two-byte form
        cbor2.dumps({"b": 1, "a": 2}),  # map keys not sorted
        b"\x9f\x01\xff",  # indefinite-length array
        b"\x01\x02",  # trailing bytes after the value
    ],
    ids=["long-int", "unsorted-map", "indefinite", "trailing"],
)
def test_non_canonical_bytes_are_refused_but_readable_when_asked(raw: bytes) -> None:
    with pytest.raises(EncodingError, match="canonical"):
        encoding.decode(raw)
    encoding.decode(raw, canonical=False)


@pytest.mark.parametrize(
    "raw", [b"", b"\xff", b"\x5a\xff\xff\xff\xff"], ids=["empty", "break", "short"]
)
def test_garbage_is_an_encoding_error_not_a_crash(raw: bytes) -> None:
    with pytest.raises(EncodingError, match="not valid CBOR"):
        encoding.decode(raw)


def test_decode_refuses_non_bytes_and_oversized_input() -> None:
    with pytest.raises(EncodingError, match="expected bytes"):
        encoding.decode("text")  # type: ignore[arg-type]
    with pytest.raises(EncodingError, match="exceeds"):
        encoding.decode(bytes(encoding.MAX_DECODE_BYTES + 1))
