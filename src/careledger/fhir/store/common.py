"""SQL-independent parts of the resource stores (:mod:`.sqlite`, :mod:`.postgres`): timestamps,
the translation of a search clause into a ``WHERE`` fragment, the history filter and the paged
listing of changes (:meth:`~careledger.fhir.base.ResourceStore.changes_since`).

The fragments use only SQL both databases share; the placeholder (``?`` for sqlite3, ``%s`` for
psycopg) is a parameter. They refer to ``h`` (the ``heads`` row being searched) and ``s`` (a
``search_index`` row); text comparisons assume code-point order (SQLite's default, ``COLLATE "C"``
in PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from careledger.fhir.base import ChangedVersion, Head, StoredVersion
from careledger.fhir.errors import ResourceGone, ResourceNotFound
from careledger.fhir.query import Clause, DateValue, ReferenceValue, StringValue, TokenValue

MAX_CHAR = "\U0010ffff"
"""Appended to a string prefix for the exclusive upper bound of a prefix search."""


# Versions whose patient's key was destroyed (erased: they cannot be decrypted).
_READABLE = (
    "NOT EXISTS (SELECT 1 FROM patient_keys k WHERE k.patient = v.patient AND k.wrapped IS NULL)"
)


def microseconds(instant: str) -> int:
    """UTC microseconds of an ISO instant: ``updated_us`` of a version stamped ``instant``."""
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def clause_sql(clause: Clause, ph: str = "?") -> tuple[str, list[Any]]:
    """SQL matching any of the clause's values, with its arguments (``ph``: the placeholder)."""
    parts: list[str] = []
    args: list[Any] = []
    if clause.name == "_id":
        ids = [v.code for v in clause.values if isinstance(v, TokenValue)]
        return f"h.rid IN ({','.join([ph] * len(ids))})", ids
    if clause.name == "_lastUpdated":
        for value in clause.values:
            assert isinstance(value, DateValue)
            sql, date_args = date_sql(value, "h.updated_us", "(h.updated_us + 1)", ph)
            parts.append(sql)
            args.extend(date_args)
        return "(" + " OR ".join(parts) + ")", args
    for value in clause.values:
        if isinstance(value, TokenValue):
            sql = f"s.value = {ph}" if value.code is not None else "1 = 1"
            args.extend([value.code] if value.code is not None else [])
            if value.system is not None:
                sql += f" AND s.system = {ph}"
                args.append(value.system)
        elif isinstance(value, ReferenceValue):
            sql = f"s.value = {ph}"
            args.append(value.reference)
        elif isinstance(value, StringValue):
            if value.exact:
                sql = f"s.system = {ph}"
                args.append(value.text)
            else:
                sql = f"s.value >= {ph} AND s.value < {ph}"
                args.extend([value.text, value.text + MAX_CHAR])
        else:
            sql, date_args = date_sql(value, "s.low", "s.high", ph)
            args.extend(date_args)
        parts.append(sql)
    exists = " OR ".join(f"({p})" for p in parts)
    return (
        "EXISTS (SELECT 1 FROM search_index s WHERE s.rtype = h.rtype AND s.rid = h.rid"
        f" AND s.param = {ph} AND ({exists}))",
        [clause.name, *args],
    )


def date_sql(value: DateValue, low: str, high: str, ph: str = "?") -> tuple[str, list[int]]:
    """FHIR date prefixes over half-open ranges: the stored ``[low, high)`` against the
    searched ``[value.low, value.high)``."""
    lo, hi = value.low, value.high
    return {
        "eq": (f"{low} >= {ph} AND {high} <= {ph}", [lo, hi]),
        "ne": (f"NOT ({low} >= {ph} AND {high} <= {ph})", [lo, hi]),
        "lt": (f"{low} < {ph}", [lo]),
        "gt": (f"{high} > {ph}", [hi]),
        "le": (f"{low} < {ph}", [hi]),
        "ge": (f"{high} > {ph}", [lo]),
        "sa": (f"{low} >= {ph}", [hi]),
        "eb": (f"{high} <= {ph}", [lo]),
    }[value.prefix]


def history_filter(
    head: Head | None,
    resource_type: str,
    resource_id: str | None,
    since: int | None,
    ph: str = "?",
) -> tuple[str, list[Any]]:
    """``WHERE`` fragment and arguments over ``versions v`` for a type or instance history.

    ``head`` is the instance's head when ``resource_id`` is given (a missing or erased instance
    raises); versions of patients whose key was destroyed are never listed.
    """
    where = f"v.rtype = {ph} AND {_READABLE}"
    args: list[Any] = [resource_type]
    if resource_id is not None:
        readable_head(head, f"{resource_type}/{resource_id}")
        where += f" AND v.rid = {ph}"
        args.append(resource_id)
    if since is not None:
        where += f" AND v.updated_us >= {ph}"
        args.append(since)
    return where, args


# --- changes since an instant -------------------------------------------------------------------

ChangeKey = tuple[int, str, str, int]
"""Where a listing of changes stands: (updated_us, type, id, version) of the last row read."""

ChangePage = list[tuple[ChangeKey, ChangedVersion | None]]

# Whether the version made its resource exist: the first, or the first after a deletion.
_CREATED = (
    "COALESCE((SELECT p.content_hash IS NULL FROM versions p WHERE p.rtype = v.rtype"
    " AND p.rid = v.rid AND p.version = v.version - 1), TRUE)"
)


def changes_sql(
    columns: str, since_us: int, after: ChangeKey | None, limit: int, ph: str = "?"
) -> tuple[str, list[Any]]:
    """The next ``limit`` readable versions at or after ``since_us`` and past ``after``, in
    change order: ``updated_us``, created flag, then ``columns`` of ``versions v``."""
    where = f"v.updated_us >= {ph} AND {_READABLE}"
    args: list[Any] = [since_us if after is None else max(since_us, after[0])]
    if after is not None:
        where += f" AND (v.updated_us, v.rtype, v.rid, v.version) > ({ph}, {ph}, {ph}, {ph})"
        args.extend(after)
    return (
        f"SELECT v.updated_us, {_CREATED}, {columns} FROM versions v WHERE {where}"
        f" ORDER BY v.updated_us, v.rtype, v.rid, v.version LIMIT {ph}",
        [*args, limit],
    )


def change_page(
    rows: Sequence[Sequence[Any]], decrypt: Callable[[Sequence[Any]], StoredVersion]
) -> ChangePage:
    """Rows of :func:`changes_sql` decrypted (run it under the store's lock). A version whose
    patient was erased since the query is ``None``: skipped, but still a paging position."""
    page: ChangePage = []
    for row in rows:
        updated_us, created, rtype, rid, version = row[0], row[1], row[2], row[3], row[4]
        key: ChangeKey = (int(updated_us), rtype, rid, int(version))
        try:
            stored = decrypt(row[2:])
        except ResourceGone as exc:
            if not exc.erased:
                raise
            page.append((key, None))
        else:
            page.append((key, ChangedVersion(stored, bool(created), key[0])))
    return page


def iter_changes(
    read_page: Callable[[ChangeKey | None], ChangePage], batch: int
) -> Iterator[ChangedVersion]:
    """Every version ``read_page`` lists, page after page (``read_page(after)``: the next
    ``batch`` rows past ``after``, ``None`` for the first page)."""
    if batch < 1:
        raise ValueError("batch must be positive")
    after: ChangeKey | None = None
    while True:
        page = read_page(after)
        for _key, changed in page:
            if changed is not None:
                yield changed
        if len(page) < batch:
            return
        after = page[-1][0]


def readable_head(head: Head | None, ref: str) -> Head:
    """The head of ``ref`` for a read; ResourceNotFound or ResourceGone (erased) otherwise."""
    if head is None:
        raise ResourceNotFound(f"{ref} is not known")
    if head.erased:
        raise ResourceGone(f"{ref} was erased at the patient's request", erased=True)
    return head


def not_a_deletion(found: StoredVersion, ref: str, version: int | None) -> StoredVersion:
    """``found``, unless it is a deletion (ResourceGone naming the current or asked version)."""
    if found.deleted:
        raise ResourceGone(
            f"{ref} is deleted" if version is None else f"{ref}/_history/{version} is a deletion"
        )
    return found
