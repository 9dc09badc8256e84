"""Search parameters: which each type supports, and the index entries a resource produces.

Four kinds: ``token`` (system|code), ``reference`` (``Type/id``), ``date`` (a half-open range in
UTC microseconds, so ``2020-03`` covers the whole month) and ``string`` (case-folded, prefix
match). ``_id`` and ``_lastUpdated`` apply to every type and are answered from the store's own
columns. Index entries are plaintext inside the organisation's own database (see docs/fhir.md).

Not for: parsing a request's query string (:mod:`careledger.fhir.query`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from careledger.errors import InvalidInput
from careledger.fhir.resources import JSON, get_path, normalize_reference

Kind = Literal["token", "reference", "date", "string"]

MIN_TIME = -(2**62)
MAX_TIME = 2**62


@dataclass(frozen=True, slots=True)
class SearchParam:
    name: str
    kind: Kind
    paths: tuple[str, ...]
    target: str | None = None  # the one type a bare id of a reference parameter means


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One searchable value of a resource: ``value`` (token code, reference, folded string)
    with ``system`` (a token's system; a string's original text, for ``:exact``), or the
    range ``[low, high)`` for dates."""

    param: str
    system: str = ""
    value: str = ""
    low: int = 0
    high: int = 0


def _p(name: str, kind: Kind, *paths: str, target: str | None = None) -> SearchParam:
    return SearchParam(name, kind, paths, target)


def _subject() -> list[SearchParam]:
    return [
        _p("patient", "reference", "subject", target="Patient"),
        _p("subject", "reference", "subject"),
        _p("encounter", "reference", "encounter", target="Encounter"),
    ]


_IDENTIFIER = _p("identifier", "token", "identifier")
_STATUS = _p("status", "token", "status")

PARAMS: dict[str, dict[str, SearchParam]] = {
    rtype: {p.name: p for p in [_IDENTIFIER, *params]}
    for rtype, params in {
        "Patient": [
            _p("name", "string", "name"),
            _p("family", "string", "name.family"),
            _p("given", "string", "name.given"),
            _p("birthdate", "date", "birthDate"),
            _p("gender", "token", "gender"),
            _p("address", "string", "address"),
            _p("general-practitioner", "reference", "generalPractitioner"),
        ],
        "Encounter": [
            _p("patient", "reference", "subject", target="Patient"),
            _p("subject", "reference", "subject"),
            _p("date", "date", "period"),
            _STATUS,
            _p("class", "token", "class"),
            _p("type", "token", "type"),
            _p("service-provider", "reference", "serviceProvider", target="Organization"),
        ],
        "Observation": [
            *_subject(),
            _p("code", "token", "code"),
            _p("date", "date", "effectiveDateTime", "effectivePeriod", "effectiveInstant"),
            _p("category", "token", "category"),
            _STATUS,
        ],
        "Condition": [
            *_subject(),
            _p("code", "token", "code"),
            _p("onset-date", "date", "onsetDateTime", "onsetPeriod"),
            _p("recorded-date", "date", "recordedDate"),
            _p("clinical-status", "token", "clinicalStatus"),
            _p("category", "token", "category"),
        ],
        "Procedure": [
            *_subject(),
            _p("code", "token", "code"),
            _p("date", "date", "performedDateTime", "performedPeriod"),
            _STATUS,
        ],
        "MedicationRequest": [
            *_subject(),
            _p("code", "token", "medicationCodeableConcept"),
            _p("authoredon", "date", "authoredOn"),
            _STATUS,
            _p("intent", "token", "intent"),
        ],
        "Immunization": [
            _p("patient", "reference", "patient", target="Patient"),
            _p("vaccine-code", "token", "vaccineCode"),
            _p("date", "date", "occurrenceDateTime"),
            _STATUS,
        ],
        "AllergyIntolerance": [
            _p("patient", "reference", "patient", target="Patient"),
            _p("code", "token", "code"),
            _p("date", "date", "recordedDate"),
            _p("clinical-status", "token", "clinicalStatus"),
        ],
        "DiagnosticReport": [
            *_subject(),
            _p("code", "token", "code"),
            _p("date", "date", "effectiveDateTime", "effectivePeriod"),
            _p("category", "token", "category"),
            _STATUS,
            _p("result", "reference", "result", target="Observation"),
        ],
        "DocumentReference": [
            _p("patient", "reference", "subject", target="Patient"),
            _p("subject", "reference", "subject"),
            _p("encounter", "reference", "context.encounter", target="Encounter"),
            _p("type", "token", "type"),
            _p("category", "token", "category"),
            _p("date", "date", "date"),
            _STATUS,
        ],
        "Coverage": [
            _p("patient", "reference", "beneficiary", target="Patient"),
            _p("beneficiary", "reference", "beneficiary", target="Patient"),
            _p("payor", "reference", "payor"),
            _p("type", "token", "type"),
            _STATUS,
        ],
        "Claim": [
            _p("patient", "reference", "patient", target="Patient"),
            _p("created", "date", "created"),
            _p("provider", "reference", "provider"),
            _p("insurer", "reference", "insurer", target="Organization"),
            _p("use", "token", "use"),
            _STATUS,
        ],
        "ExplanationOfBenefit": [
            _p("patient", "reference", "patient", target="Patient"),
            _p("created", "date", "created"),
            _p("claim", "reference", "claim", target="Claim"),
            _p("provider", "reference", "provider"),
            _STATUS,
        ],
    }.items()
}


# --- dates ------------------------------------------------------------------------------------

_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d{1,9})?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def date_range(text: str) -> tuple[int, int]:
    """The half-open range ``[low, high)`` in UTC microseconds that a FHIR date, dateTime or
    instant covers at its precision. A time without a zone is taken as UTC."""
    match = _DATE.match(text)
    if match is None:
        raise InvalidInput(f"invalid date {text[:40]!r}")
    g = match.groupdict()
    try:
        year = int(g["y"])
        if g["m"] is None:
            return _micros(datetime(year, 1, 1, tzinfo=UTC)), _micros(
                datetime(year + 1, 1, 1, tzinfo=UTC)
            )
        month = int(g["m"])
        if g["d"] is None:
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            return _micros(start), _micros(end)
        day = datetime(year, month, int(g["d"]), tzinfo=UTC)
        if g["H"] is None:
            return _micros(day), _micros(day + timedelta(days=1))
        offset = timedelta(0)
        if g["tz"] and g["tz"] != "Z":
            sign = 1 if g["tz"][0] == "+" else -1
            offset = sign * timedelta(hours=int(g["tz"][1:3]), minutes=int(g["tz"][4:6]))
        moment = day.replace(hour=int(g["H"]), minute=int(g["M"])) - offset
        if g["S"] is None:
            return _micros(moment), _micros(moment + timedelta(minutes=1))
        moment = moment.replace(second=int(g["S"]))
        if g["f"] is None:
            return _micros(moment), _micros(moment + timedelta(seconds=1))
        digits = g["f"][1:7].ljust(6, "0")
        low = _micros(moment) + int(digits)
        return low, low + 10 ** (6 - min(len(g["f"]) - 1, 6))
    except ValueError as exc:
        raise InvalidInput(f"invalid date {text[:40]!r}: {exc}") from None


# --- index entries ----------------------------------------------------------------------------


def index_entries(resource: JSON, base_url: str = "") -> list[IndexEntry]:
    """Every index entry of ``resource`` for its type's search parameters."""
    entries: list[IndexEntry] = []
    for param in PARAMS[resource["resourceType"]].values():
        for path in param.paths:
            for value in get_path(resource, path):
                entries.extend(_entries(param, value, base_url))
    return entries


def _entries(param: SearchParam, value: Any, base_url: str) -> list[IndexEntry]:
    name = param.name
    if param.kind == "token":
        return [IndexEntry(name, system, code) for system, code in _tokens(value)]
    if param.kind == "reference":
        ref = value.get("reference") if isinstance(value, dict) else None
        if isinstance(ref, str):
            return [IndexEntry(name, value=normalize_reference(ref, base_url))]
        return []
    if param.kind == "date":
        low, high = _value_range(value)
        return [] if low == high else [IndexEntry(name, low=low, high=high)]
    return [IndexEntry(name, system=text, value=fold(text)) for text in _strings(value)]


def _tokens(value: Any) -> list[tuple[str, str]]:
    if isinstance(value, bool):
        return [("", "true" if value else "false")]
    if isinstance(value, str):
        return [("", value)]
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return [t for coding in value["coding"] for t in _tokens(coding)]
    system = value.get("system", "")
    code = value.get("code", value.get("value"))
    return [(system if isinstance(system, str) else "", code)] if isinstance(code, str) else []


def _value_range(value: Any) -> tuple[int, int]:
    try:
        if isinstance(value, str):
            return date_range(value)
        if isinstance(value, dict):
            start, end = value.get("start"), value.get("end")
            low = date_range(start)[0] if isinstance(start, str) else MIN_TIME
            high = date_range(end)[1] if isinstance(end, str) else MAX_TIME
            return (low, high) if (start or end) else (0, 0)
    except InvalidInput:  # validated resources have valid dates; be safe anyway
        pass
    return 0, 0


_STRING_PARTS = ("text", "family", "given", "prefix", "suffix", "line", "city", "district")
_STRING_PARTS_2 = ("state", "postalCode", "country")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, dict):
        return []
    out: list[str] = []
    for part in _STRING_PARTS + _STRING_PARTS_2:
        item = value.get(part)
        for text in item if isinstance(item, list) else [item]:
            if isinstance(text, str):
                out.append(text)
    return out


def fold(text: str) -> str:
    """Case- and space-insensitive form of a string for matching."""
    return " ".join(text.casefold().split())
