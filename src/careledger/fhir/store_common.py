"""SQL-independent parts of the resource stores (:mod:`.sqlite`, :mod:`.postgres`): timestamps
and the translation of a search clause into a ``WHERE`` fragment.

The fragments use only SQL both databases share; the placeholder (``?`` for sqlite3, ``%s`` for
psycopg) is a parameter. They refer to ``h`` (the ``heads`` row being searched) and ``s`` (a
``search_index`` row); text comparisons assume code-point order (SQLite's default, ``COLLATE "C"``
in PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from careledger.fhir.base import Head
from careledger.fhir.errors import ResourceGone, ResourceNotFound
from careledger.fhir.query import Clause, DateValue, ReferenceValue, StringValue, TokenValue

MAX_CHAR = "\U0010ffff"
"""Appended to a string prefix for the exclusive upper bound of a prefix search."""


def microseconds(instant: str) -> int:
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
    where = (
        f"v.rtype = {ph} AND NOT EXISTS (SELECT 1 FROM patient_keys k"
        " WHERE k.patient = v.patient AND k.wrapped IS NULL)"
    )
    args: list[Any] = [resource_type]
    if resource_id is not None:
        if head is None:
            raise ResourceNotFound(f"{resource_type}/{resource_id} is not known")
        if head.erased:
            raise ResourceGone(f"{resource_type}/{resource_id} was erased", erased=True)
        where += f" AND v.rid = {ph}"
        args.append(resource_id)
    if since is not None:
        where += f" AND v.updated_us >= {ph}"
        args.append(since)
    return where, args
