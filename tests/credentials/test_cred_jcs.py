"""JCS (RFC 8785): the fast path (the standard library's JSON encoder for plain data) gives the
same bytes as the ``rfc8785`` package, and refuses what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from careledger.credentials.canonical import jcs
from careledger.credentials.errors import CredentialFormatError

_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_keys = st.one_of(_text, st.sampled_from(["a", "B", "é", "\u00e9", "\U0001f600", "\ufb01", "_"]))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53) - 3, 2**53 + 3),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
    st.sampled_from(['\b\f\n\r\t"\\/\x00\x1f\x7f', "\u2028", "</script>"]),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=20,
)


def _reference(value: Any) -> bytes | type[Exception]:
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return CredentialFormatError


@settings(max_examples=200, deadline=None)
@given(_json)
def test_fast_jcs_matches_rfc8785(value: Any) -> None:
    expected = _reference(value)
    if isinstance(expected, bytes):
        assert jcs(value) == expected
    else:
        with pytest.raises(expected):
            jcs(value)


def test_what_rfc8785_refuses_is_refused() -> None:
    for bad in ({"n": 2**53}, {"s": "\ud800"}, {1: "x"}, {"f": float("nan")}, {"x": object()}):
        with pytest.raises(CredentialFormatError):
            jcs(bad)
    assert jcs({"b": [1, True, None], "a": "\u00e9\n"}) == b'{"a":"\xc3\xa9\\n","b":[1,true,null]}'
