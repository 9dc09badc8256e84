"""What this server knows about each resource type: validation, patient, clinical date, labels.

Validation is ``fhir.resources`` R4B (which accepts R4 data) through ``model_validate`` on the
decoded JSON: the model is only a check, the JSON the client sent is what is stored, so there is
no dump / re-encode round trip and decimal precision is kept. Terminology bindings (for example
``Observation.status`` codes) are not checked; cardinality, types, primitives' formats and unknown
elements are.

Not for: search parameters (:mod:`careledger.fhir.searchparams`) or storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from careledger.errors import InvalidInput
from careledger.fhir.errors import InvalidResource, Issue

JSON = dict[str, Any]

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
_CONFIDENTIALITY_ORDER = "ULMNRV"


@dataclass(frozen=True, slots=True)
class ResourceProfile:
    """Where a type keeps its patient and its clinical date (first present path wins)."""

    name: str
    patient_paths: tuple[str, ...]
    date_paths: tuple[str, ...]


_PROFILES = (
    ResourceProfile("Patient", (), ()),
    ResourceProfile("Encounter", ("subject",), ("period.start",)),
    ResourceProfile(
        "Observation",
        ("subject",),
        ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued"),
    ),
    ResourceProfile(
        "Condition", ("subject",), ("onsetDateTime", "onsetPeriod.start", "recordedDate")
    ),
    ResourceProfile("Procedure", ("subject",), ("performedDateTime", "performedPeriod.start")),
    ResourceProfile("MedicationRequest", ("subject",), ("authoredOn",)),
    ResourceProfile("Immunization", ("patient",), ("occurrenceDateTime", "recorded")),
    ResourceProfile("AllergyIntolerance", ("patient",), ("recordedDate", "onsetDateTime")),
    ResourceProfile(
        "DiagnosticReport", ("subject",), ("effectiveDateTime", "effectivePeriod.start", "issued")
    ),
    ResourceProfile("DocumentReference", ("subject",), ("date",)),
    ResourceProfile("Coverage", ("beneficiary",), ("period.start",)),
    ResourceProfile("Claim", ("patient",), ("created",)),
    ResourceProfile("ExplanationOfBenefit", ("patient",), ("created",)),
)

PROFILES: dict[str, ResourceProfile] = {p.name: p for p in _PROFILES}
SUPPORTED_TYPES: tuple[str, ...] = tuple(PROFILES)


@dataclass(frozen=True, slots=True)
class SensitivityLabel:
    """The resource's confidentiality code (``N`` unless ``meta.security`` says otherwise) and
    its other security labels (``HIV``, ``PSY``, ...): what a consent policy decides on."""

    confidentiality: str = "N"
    categories: tuple[str, ...] = ()


def profile(resource_type: str) -> ResourceProfile:
    found = PROFILES.get(resource_type)
    if found is None:
        raise InvalidResource(
            f"resource type {resource_type!r} is not supported",
            [Issue("not-supported", f"unsupported resource type {resource_type!r}")],
        )
    return found


def check_id(resource_id: str) -> str:
    if not ID_PATTERN.match(resource_id):
        raise InvalidInput(f"invalid resource id {resource_id[:80]!r}")
    return resource_id


def validate(resource: Any, expected_type: str | None = None, path: str = "") -> JSON:
    """Check ``resource`` (decoded JSON) is a valid resource of a supported type; returns it.

    ``path`` prefixes the issue expressions (``Bundle.entry[2].resource``) for bundle entries.
    Raises :class:`InvalidResource` (422) with one issue per problem, or ``InvalidInput`` (400)
    when the body is not a resource at all.
    """
    if not isinstance(resource, dict):
        raise InvalidInput(f"{path or 'body'}: a resource must be a JSON object")
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        raise InvalidInput(f"{path or 'body'}: resourceType is missing")
    if expected_type is not None and rtype != expected_type:
        raise InvalidInput(f"resourceType {rtype[:64]!r} does not match the URL ({expected_type})")
    profile(rtype)
    rid = resource.get("id")
    if rid is not None and (not isinstance(rid, str) or not ID_PATTERN.match(rid)):
        where = f"{path}.id" if path else f"{rtype}.id"
        raise InvalidResource("invalid id", [Issue("value", "invalid resource id", where)])
    try:
        get_fhir_model_class(rtype).model_validate(resource)
    except ValidationError as exc:
        prefix = path or rtype
        issues = [_issue(prefix, err) for err in exc.errors(include_url=False)[:20]]
        raise InvalidResource(f"invalid {rtype}: {issues[0].diagnostics}", issues) from None
    except RecursionError:
        raise InvalidInput("the resource is nested too deeply") from None
    return resource


def _issue(prefix: str, err: Any) -> Issue:
    expression = prefix
    for part in err.get("loc", ()):
        if isinstance(part, int):
            expression += f"[{part}]"
        elif part == "resource_type":
            expression += ".resourceType"
        elif part != "__root__":
            expression += f".{part}"
    kind = "required" if "missing" in str(err.get("type", "")) else "value"
    if err.get("type") == "extra_forbidden":
        kind = "structure"
    message = str(err.get("msg", "invalid")).replace("\n", " ")
    return Issue(kind, " ".join(message.split())[:300], expression)


def get_path(resource: JSON, path: str) -> list[Any]:
    """Values at a dotted ``path``, flattening lists on the way (``name.given``)."""
    values: list[Any] = [resource]
    for step in path.split("."):
        found: list[Any] = []
        for value in values:
            if isinstance(value, dict) and step in value:
                item = value[step]
                found.extend(item if isinstance(item, list) else [item])
        values = found
        if not values:
            break
    return values


def normalize_reference(reference: str, base_url: str = "") -> str:
    """``Patient/1`` for ``Patient/1``, ``{base}/Patient/1`` and ``Patient/1/_history/2``;
    other absolute references are returned unchanged."""
    if base_url and reference.startswith(base_url.rstrip("/") + "/"):
        reference = reference[len(base_url.rstrip("/")) + 1 :]
    parts = reference.split("/")
    if len(parts) == 4 and parts[2] == "_history":
        return f"{parts[0]}/{parts[1]}"
    return reference


def patient_reference(resource: JSON, base_url: str = "") -> str | None:
    """The patient whose record this resource belongs to (``Patient/<id>``), if any."""
    rtype = resource["resourceType"]
    if rtype == "Patient":
        rid = resource.get("id")
        return f"Patient/{rid}" if isinstance(rid, str) else None
    for path in profile(rtype).patient_paths:
        for ref in get_path(resource, f"{path}.reference"):
            if isinstance(ref, str):
                normal = normalize_reference(ref, base_url)
                if normal.startswith("Patient/"):
                    return normal
    return None


def clinical_date(resource: JSON) -> str | None:
    """The date the care happened (for the record locator), if the resource has one."""
    for path in profile(resource["resourceType"]).date_paths:
        for value in get_path(resource, path):
            if isinstance(value, str):
                return value
    return None


def sensitivity(resource: JSON) -> SensitivityLabel:
    """The highest confidentiality code in ``meta.security`` and the other security codes."""
    levels: list[str] = []
    categories: list[str] = []
    for coding in get_path(resource, "meta.security"):
        if not isinstance(coding, dict) or not isinstance(coding.get("code"), str):
            continue
        code = coding["code"]
        if coding.get("system") == CONFIDENTIALITY and code in _CONFIDENTIALITY_ORDER:
            levels.append(code)
        else:
            categories.append(code)
    level = max(levels, key=_CONFIDENTIALITY_ORDER.index) if levels else "N"
    return SensitivityLabel(level, tuple(sorted(set(categories))))
