"""The PHI guard's fast pass (no paths built) judges exactly as the full walk does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careledger.contracts.phi_guard import PhiRejected, _screen, screen

_words = st.sampled_from(
    [
        "awarded",
        "flu-shot",
        "ab" * 32,
        "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        "2026-10",
        "123-45-6789",  # a number that may identify a person
        "1980-04-12",  # a day-date
        "jane@example.org",
        "free text here",
        "MRN12345",
        "héllo",
        "Org1",
    ]
)
_plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.binary(max_size=8), _words),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(_words, st.integers(0, 3)), inner, max_size=4),
    ),
    max_leaves=12,
)


def _full(value: Any) -> str | None:
    try:
        _screen(value, "value")
    except PhiRejected as exc:
        return str(exc)
    return None


@settings(max_examples=300, deadline=None)
@given(_plain)
def test_fast_screen_agrees_with_the_full_walk(value: Any) -> None:
    expected = _full(value)
    if expected is None:
        screen(value)
    else:
        with pytest.raises(PhiRejected) as caught:
            screen(value)
        assert str(caught.value) == expected  # the refusal still names the path
