"""The longitudinal record as pages show it: ``$everything`` assembled by this node, turned into
timeline items with their source organisations and verification status.

Both the patient's timeline and the provider's record page use :func:`assemble`: every holder's
part is fetched and each resource verified against its locator entry on the ledger
(:class:`~careledger.longitudinal.everything.LongitudinalRecord`); a resource that does not
match its hash is excluded and named in the outcome, one a holder withheld (no consent) is
counted. The
badge a page shows is therefore "verified" for everything listed, and the outcome lines say what
is missing and why.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import msgspec

from careledger.fhir.resources import clinical_date
from careledger.longitudinal.everything import (
    BREAK_GLASS_HEADER,
    PRACTITIONER_HEADER,
    PURPOSE_HEADER,
    SOURCE_EXT,
)
from careledger.web.context import FhirSide

PAGE = 100
"""Resources per page of a record (the record is assembled whole, shown a page at a time,
newest first: the next page holds older entries)."""
CATEGORY = {
    "Patient": "Demographics",
    "Encounter": "Visits",
    "Observation": "Results and vital signs",
    "DiagnosticReport": "Results and vital signs",
    "Condition": "Conditions",
    "Procedure": "Procedures",
    "MedicationRequest": "Medications",
    "Immunization": "Immunizations",
    "AllergyIntolerance": "Allergies",
    "DocumentReference": "Documents",
    "Coverage": "Coverage and claims",
    "Claim": "Coverage and claims",
    "ExplanationOfBenefit": "Coverage and claims",
}


@dataclass(frozen=True)
class RecordItem:
    category: str
    date: str
    resource_type: str
    summary: str
    sources: tuple[str, ...]
    verified: bool = True


@dataclass
class AssembledRecord:
    items: list[RecordItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Outcome lines: what was withheld, refused or excluded, by holder."""
    break_glass: str | None = None
    total: int = 0
    offset: int = 0
    count: int = PAGE

    def pages(self) -> tuple[int | None, int | None]:
        """(previous page's offset, next page's offset), None where there is none."""
        previous = max(self.offset - self.count, 0) if self.offset > 0 else None
        following = self.offset + self.count if self.offset + self.count < self.total else None
        return previous, following

    def by_category(self) -> list[tuple[str, list[RecordItem]]]:
        groups: dict[str, list[RecordItem]] = defaultdict(list)
        for item in self.items:
            groups[item.category].append(item)
        return sorted(
            ((k, sorted(v, key=lambda i: i.date, reverse=True)) for k, v in groups.items()),
            key=lambda kv: (kv[0] != "Demographics", kv[0]),
        )

    def holders(self) -> list[str]:
        return sorted({s for item in self.items for s in item.sources})


def _text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict):
            return str(coding.get("display") or coding.get("code") or "")
    return ""


def summary(resource: dict[str, Any]) -> str:
    """One line for a resource: its code or name and value — shown escaped, never in a URL."""
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        names = resource.get("name") or [{}]
        name = names[0] if isinstance(names[0], dict) else {}
        given = " ".join(str(g) for g in name.get("given") or [])
        return f"{given} {name.get('family', '')}".strip() or "Patient"
    parts = [
        _text(
            resource.get("code")
            or resource.get("vaccineCode")
            or resource.get("medicationCodeableConcept")
            or resource.get("type")
        )
    ]
    quantity = resource.get("valueQuantity")
    if isinstance(quantity, dict) and "value" in quantity:
        parts.append(f"{quantity['value']} {quantity.get('unit', '')}".strip())
    return " · ".join(p for p in parts if p) or str(rtype)


async def assemble(
    fhir: FhirSide,
    patient: str,
    *,
    purpose: str = "TREAT",
    break_glass: str | None = None,
    practitioner: str | None = None,
    offset: int = 0,
) -> AssembledRecord:
    """``$everything`` for local ``patient`` (``Patient/<id>``) as this organisation, the
    :data:`PAGE` resources from ``offset`` (demographics, then newest first)."""
    headers = {PURPOSE_HEADER: purpose}
    if break_glass:
        headers[BREAK_GLASS_HEADER] = break_glass
    if practitioner:
        headers[PRACTITIONER_HEADER] = practitioner
    pid = patient.split("/", 1)[1]
    params = [("_count", str(PAGE)), ("_offset", str(offset)), ("_sort", "-date")]
    bundle = await fhir.record(pid, params, headers, None)
    out = AssembledRecord(break_glass=break_glass, total=int(bundle.get("total", 0)),
                          offset=offset)  # fmt: skip
    for entry in bundle.get("entry", []):
        raw = entry.get("resource")
        resource = msgspec.json.decode(bytes(raw)) if isinstance(raw, msgspec.Raw) else raw
        if entry.get("search", {}).get("mode") == "outcome":
            for issue in resource.get("issue", []):
                out.notes.append(str(issue.get("diagnostics", "")))
            continue
        sources = tuple(
            str(x.get("valueString"))
            for x in entry.get("extension", [])
            if x.get("url") == SOURCE_EXT
        )
        rtype = str(resource.get("resourceType", ""))
        date = clinical_date(resource) or str(resource.get("meta", {}).get("lastUpdated", ""))
        out.items.append(
            RecordItem(CATEGORY.get(rtype, rtype), date[:10], rtype, summary(resource), sources)
        )
    return out
