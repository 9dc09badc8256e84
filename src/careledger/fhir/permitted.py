"""Counting and paging only what another organisation may see.

A search or history for another organisation must not tell it, through ``total`` or the
presence of a ``next`` link, about resources the access policy withholds: ``total`` over the
store's matches would answer "is there a patient named X born on D here?" without any consent.
:func:`permitted_page` scans the matches (in store pages of :data:`MAX_COUNT`), keeps those the
policy permits (:meth:`~careledger.fhir.base.AccessPolicy.permits`, which records nothing), and
pages and counts that list. A scan past :data:`MAX_SCANNED` matches is refused: narrow the search.

Not for: the organisation's own users, whose searches page the store directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from careledger.errors import InvalidInput
from careledger.fhir.query import MAX_COUNT

T = TypeVar("T")

MAX_SCANNED = 20 * MAX_COUNT


def permitted_page(
    fetch: Callable[[int, int], tuple[list[T], int]],
    permitted: Callable[[T], bool],
    offset: int,
    count: int,
) -> tuple[list[T], int]:
    """(the page at ``offset`` of ``count`` permitted items, how many are permitted in all).

    ``fetch(offset, count)`` answers one store page and the store's total."""
    kept: list[T] = []
    scanned = 0
    while True:
        items, total = fetch(scanned, MAX_COUNT)
        kept += [item for item in items if permitted(item)]
        scanned += len(items)
        if not items or scanned >= total:
            break
        if scanned >= MAX_SCANNED:
            raise InvalidInput(f"this search matches more than {MAX_SCANNED} resources: narrow it")
    return kept[offset : offset + count], len(kept)
