"""Parsing a search request's parameters into a :class:`SearchQuery` the store can answer.

Repeated parameters are ANDed, comma-separated values ORed. Unknown parameters of the resource
type, unknown modifiers and malformed values are a 400: answering ``patinet=1`` with every
patient's data would be worse than an error. Unknown *result* parameters (``_sort``,
``_summary``, ``_elements``, ``_revinclude`` ...) are ignored and reported back in the Bundle's
outcome entry, as FHIR's lenient handling asks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from careledger.errors import InvalidInput
from careledger.fhir.resources import ID_PATTERN, normalize_reference
from careledger.fhir.searchparams import PARAMS, Kind, date_range, fold

DEFAULT_COUNT = 20
MAX_COUNT = 500
MAX_OFFSET = 1_000_000
DATE_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge", "sa", "eb")


@dataclass(frozen=True, slots=True)
class TokenValue:
    """``system`` None matches any system; ``""`` only codes without one. ``code`` None: any."""

    system: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class DateValue:
    prefix: str
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    reference: str


@dataclass(frozen=True, slots=True)
class StringValue:
    text: str
    exact: bool = False


Value = TokenValue | DateValue | ReferenceValue | StringValue


@dataclass(frozen=True, slots=True)
class Clause:
    """One parameter occurrence: any of ``values`` matches. ``name`` is ``_id`` and
    ``_lastUpdated`` for the store's own columns."""

    name: str
    kind: Kind
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Include:
    param: str
    target: str | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    resource_type: str
    clauses: tuple[Clause, ...] = ()
    count: int = DEFAULT_COUNT
    offset: int = 0
    includes: tuple[Include, ...] = ()
    ignored: tuple[str, ...] = ()
    #: The parameters that were applied, to rebuild self and next links.
    applied: tuple[tuple[str, str], ...] = field(default=())


def parse_search(
    resource_type: str, params: Iterable[tuple[str, str]], base_url: str = ""
) -> SearchQuery:
    known = PARAMS[resource_type]
    clauses: list[Clause] = []
    includes: list[Include] = []
    ignored: list[str] = []
    applied: list[tuple[str, str]] = []
    count, offset = DEFAULT_COUNT, 0
    for key, raw in params:
        if raw == "":
            continue
        name, _, modifier = key.partition(":")
        if name == "_count":
            count = min(_integer(key, raw, 0, 10**9), MAX_COUNT)
            continue
        if name == "_offset":
            offset = _integer(key, raw, 0, MAX_OFFSET)
            continue
        if name == "_include" and not modifier:
            includes.append(_include(resource_type, raw))
        elif name == "_id" and not modifier:
            clauses.append(Clause("_id", "token", tuple(_ids(raw))))
        elif name == "_lastUpdated" and not modifier:
            clauses.append(Clause("_lastUpdated", "date", tuple(map(_date, _split(raw)))))
        elif name.startswith("_"):
            ignored.append(key)
            continue
        elif name in known:
            param = known[name]
            values = tuple(
                _value(param.kind, modifier, param.target, v, base_url, key) for v in _split(raw)
            )
            clauses.append(Clause(name, param.kind, values))
        else:
            raise InvalidInput(f"unknown search parameter {key[:64]!r} for {resource_type}")
        applied.append((key, raw))
    return SearchQuery(
        resource_type,
        tuple(clauses),
        count,
        offset,
        tuple(includes),
        tuple(ignored),
        tuple(applied),
    )


def _integer(key: str, raw: str, low: int, high: int) -> int:
    if not raw.isdigit() or not low <= int(raw[:12]) <= high:
        raise InvalidInput(f"{key} must be an integer from {low} to {high}")
    return int(raw)


def _split(raw: str) -> list[str]:
    """Split on commas not escaped with a backslash; unescape ``\\,``, ``\\|`` and ``\\\\``."""
    parts = re.split(r"(?<!\\),", raw)
    return [p for p in parts if p]


def _unescape(text: str) -> str:
    return re.sub(r"\\([,|$\\])", r"\1", text)


def _ids(raw: str) -> list[TokenValue]:
    out = []
    for item in _split(raw):
        if not ID_PATTERN.match(item):
            raise InvalidInput(f"invalid _id {item[:64]!r}")
        out.append(TokenValue(None, item))
    return out


def _include(resource_type: str, raw: str) -> Include:
    parts = raw.split(":")
    param = PARAMS[resource_type].get(parts[1]) if len(parts) in (2, 3) else None
    if parts[0] != resource_type or param is None or param.kind != "reference":
        raise InvalidInput(f"unsupported _include {raw[:80]!r} for {resource_type}")
    return Include(param.name, parts[2] if len(parts) == 3 else None)


def _date(raw: str) -> DateValue:
    prefix = raw[:2] if raw[:2] in DATE_PREFIXES else "eq"
    text = raw[2:] if raw[:2] in DATE_PREFIXES else raw
    low, high = date_range(text)
    return DateValue(prefix, low, high)


def _value(
    kind: Kind, modifier: str, target: str | None, raw: str, base_url: str, key: str
) -> Value:
    if kind == "string" and modifier in ("", "exact"):
        return StringValue(_unescape(raw) if modifier else fold(_unescape(raw)), modifier != "")
    if kind == "date" and not modifier:
        return _date(raw)
    if kind == "token" and not modifier:
        if "|" not in raw.replace("\\|", ""):
            return TokenValue(None, _unescape(raw))
        system, _, code = re.split(r"(?<!\\)(\|)", raw, maxsplit=1)
        return TokenValue(_unescape(system), _unescape(code) or None)
    if kind == "reference" and (not modifier or modifier[:1].isupper()):
        return ReferenceValue(_reference(raw, modifier or target, base_url, key))
    raise InvalidInput(f"unsupported modifier in {key[:64]!r}")


def _reference(raw: str, target: str | None, base_url: str, key: str) -> str:
    ref = normalize_reference(raw, base_url)
    if "/" in ref:
        return ref
    if target is None:
        raise InvalidInput(f"{key}: give the type of the reference (Type/id)")
    return f"{target}/{ref}"
