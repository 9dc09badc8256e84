"""Da Vinci PAS request and response Bundles: what the payer's node checks and answers.

A request Bundle (``Claim/$submit``) must be ``type = collection`` with an ``identifier`` and a
``timestamp``, a ``fullUrl`` on every entry, and a ``Claim`` with ``use = preauthorization``
first; every entry must be a valid FHIR R4 resource (``fhir.resources`` R4B models). Anything
else is a :class:`PasBundleInvalid` — HTTP 400 with an OperationOutcome whose issues name the
FHIRPath-like location (``Bundle.entry[0].resource.use``).

:func:`parse_request` returns a :class:`PasRequest`: the hashes, codes and periods the ledger
records (:class:`~careledger.contracts.payer.prior_auth.PaSubmission`) and the member identifier the
payer turns into its pseudonymous handle (:func:`member_handle`). :func:`response_bundle` builds
the PAS response: ``ClaimResponse`` first, each item with an ``adjudication`` whose
``reviewAction`` extension holds the X12 306 action code, the authorization number and the
reason codes; ``preAuthRef`` and ``preAuthPeriod`` on the response.

Not for: storage of the Bundles (:mod:`careledger.payer.pas.store`), nor HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from careledger.contracts.payer.model import day_number, iso_day
from careledger.errors import InvalidInput
from careledger.fhir.errors import Issue

JSON = dict[str, Any]

CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ORG_SYSTEM = "urn:careledger:org"
X12_306 = "https://codesystem.x12.org/005010/306"
X12_REASON = "https://codesystem.x12.org/external/886"
REVIEW_ACTION = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewAction"
PAS_PROFILE = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-response-bundle"
EXPEDITED_PRIORITIES = frozenset({"stat", "urgent"})
MAX_ENTRIES = 200
_CODE = re.compile(r"^[0-9A-Z]{5}$")
_OUTCOME = {"A1": "complete", "A2": "partial", "A3": "complete", "A4": "queued", "A6": "complete"}
_DISPLAY = {
    "A1": "Certified in total",
    "A2": "Certified - partial",
    "A3": "Not certified",
    "A4": "Pended",
    "A6": "Modified",
    "C": "Cancelled",
}


class PasBundleInvalid(InvalidInput):
    """A PAS request Bundle that does not have the required shape (HTTP 400)."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(f"invalid PAS request Bundle: {issues[0].diagnostics}")
        self._issues = issues

    def issues(self) -> list[Issue]:
        return list(self._issues)


@dataclass(frozen=True, slots=True)
class RequestedItem:
    sequence: int
    code: str  # HC:72148
    units: int
    start: int  # day numbers
    end: int


@dataclass(frozen=True, slots=True)
class PasRequest:
    """What the payer takes from a valid PAS request Bundle."""

    request: str  # SHA-256 hex of the Bundle identifier (system|value)
    bundle: str  # SHA-256 hex of the Bundle bytes as received
    claim: str  # SHA-256 hex of the Claim identifier (system|value)
    related: str | None  # SHA-256 hex of related.claim's identifier (an update or cancel)
    cancel: bool  # Claim.status = cancelled
    payer: str  # the organisation in Claim.insurer.identifier (urn:careledger:org)
    member_system: str
    member_id: str
    priority: str  # standard | expedited
    items: tuple[RequestedItem, ...]
    patient_entry: JSON | None  # the Patient entry, echoed in the response (off chain)


def identifier_hash(identifier: Any) -> str | None:
    """SHA-256 hex of ``system|value`` of a FHIR Identifier, or None if it has no value."""
    if not isinstance(identifier, dict) or not isinstance(identifier.get("value"), str):
        return None
    system = identifier.get("system") if isinstance(identifier.get("system"), str) else ""
    return hashlib.sha256(f"{system}|{identifier['value']}".encode()).hexdigest()


def member_handle(secret: bytes, system: str, member_id: str) -> str:
    """The payer's pseudonymous handle of a member id: keyed, so only the payer can compute it
    (a plain hash of a member id could be tested against guesses by anyone with the ledger)."""
    mac = hmac.new(secret, f"careledger/payer-member/v1|{system}|{member_id}".encode(), "sha256")
    return "ph1" + mac.hexdigest()


# -- validation ------------------------------------------------------------------------------


def _issue(code: str, message: str, where: str) -> Issue:
    return Issue(code, message, where)


def _model_issues(resource: JSON, where: str) -> list[Issue]:
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return [_issue("required", "resourceType is missing", f"{where}.resourceType")]
    try:
        model = get_fhir_model_class(rtype)
    except KeyError:
        return [_issue("value", f"unknown resource type {rtype[:40]!r}", f"{where}.resourceType")]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        out = []
        for err in exc.errors(include_url=False)[:10]:
            path = where
            for part in err.get("loc", ()):
                path += f"[{part}]" if isinstance(part, int) else f".{part}"
            message = " ".join(str(err.get("msg", "invalid")).split())[:200]
            out.append(_issue("value", message, path))
        return out
    except RecursionError:
        return [_issue("structure", "the resource is nested too deeply", where)]
    return []


def _coded_item(item: Any, where: str, issues: list[Issue]) -> RequestedItem | None:
    if not isinstance(item, dict):
        return None
    sequence = item.get("sequence")
    coding = [
        c
        for c in (item.get("productOrService") or {}).get("coding") or []
        if isinstance(c, dict) and c.get("system") in (CPT_SYSTEM, HCPCS_SYSTEM)
    ]
    code = coding[0].get("code") if coding else None
    if not isinstance(code, str) or not _CODE.match(code):
        issues.append(
            _issue(
                "value",
                "a CPT or HCPCS code (5 characters) is required",
                f"{where}.productOrService.coding",
            )
        )
        return None
    quantity = (item.get("quantity") or {}).get("value", 1)
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 9999:
        issues.append(_issue("value", "a whole number of units, 1-9999", f"{where}.quantity"))
        return None
    period = item.get("servicedPeriod") or {}
    first = item.get("servicedDate") or period.get("start")
    last = item.get("servicedDate") or period.get("end") or first
    try:
        start, end = day_number(str(first)[:10]), day_number(str(last)[:10])
    except ValueError:
        issues.append(
            _issue("required", "servicedDate or servicedPeriod is required", f"{where}.serviced[x]")
        )
        return None
    if end < start:
        issues.append(
            _issue("value", "the period ends before it starts", f"{where}.servicedPeriod")
        )
        return None
    assert isinstance(sequence, int)  # the model check ran first
    return RequestedItem(sequence, f"HC:{code}", quantity, start, end)


def parse_request(bundle: Any, raw: bytes) -> PasRequest:
    """Check a decoded PAS request Bundle; raises :class:`PasBundleInvalid` listing every issue."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise PasBundleInvalid([_issue("structure", "a Bundle is required", "Bundle")])
    issues: list[Issue] = []
    if bundle.get("type") != "collection":
        issues.append(_issue("value", "a PAS request Bundle is type collection", "Bundle.type"))
    request = identifier_hash(bundle.get("identifier"))
    if request is None:
        issues.append(_issue("required", "Bundle.identifier is required", "Bundle.identifier"))
    if not isinstance(bundle.get("timestamp"), str):
        issues.append(_issue("required", "Bundle.timestamp is required", "Bundle.timestamp"))
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        issues.append(_issue("required", "the Bundle has no entries", "Bundle.entry"))
        raise PasBundleInvalid(issues)
    if len(entries) > MAX_ENTRIES:
        raise PasBundleInvalid(
            [_issue("too-costly", f"at most {MAX_ENTRIES} entries", "Bundle.entry")]
        )
    resources: dict[str, JSON] = {}
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        if not isinstance(entry, dict):
            issues.append(_issue("structure", "an entry is an object", where))
            continue
        if not isinstance(entry.get("fullUrl"), str) or not entry["fullUrl"]:
            issues.append(_issue("required", "every entry needs a fullUrl", f"{where}.fullUrl"))
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            issues.append(_issue("required", "the entry has no resource", f"{where}.resource"))
            continue
        issues.extend(_model_issues(resource, f"{where}.resource"))
        if isinstance(entry.get("fullUrl"), str):
            resources[entry["fullUrl"]] = resource
            if isinstance(resource.get("id"), str):
                resources[f"{resource.get('resourceType')}/{resource['id']}"] = resource
    first = entries[0].get("resource") if isinstance(entries[0], dict) else None
    claim = first if isinstance(first, dict) and first.get("resourceType") == "Claim" else None
    if claim is None:
        issues.append(
            _issue("structure", "the first entry is the Claim", "Bundle.entry[0].resource")
        )
    if issues:
        raise PasBundleInvalid(issues)
    assert claim is not None
    assert request is not None
    return _claim_request(bundle, claim, resources, request, raw)


def _claim_request(
    bundle: JSON, claim: JSON, resources: dict[str, JSON], request: str, raw: bytes
) -> PasRequest:
    at = "Bundle.entry[0].resource"
    issues: list[Issue] = []
    if claim.get("use") != "preauthorization":
        issues.append(_issue("value", "Claim.use must be preauthorization", f"{at}.use"))
    claim_id = identifier_hash((claim.get("identifier") or [None])[0])
    if claim_id is None:
        issues.append(_issue("required", "the Claim needs an identifier", f"{at}.identifier"))
    insurer = (claim.get("insurer") or {}).get("identifier") or {}
    payer = insurer.get("value")
    if insurer.get("system") != ORG_SYSTEM or not isinstance(payer, str):
        issues.append(
            _issue(
                "required",
                f"Claim.insurer.identifier names the payer organisation ({ORG_SYSTEM})",
                f"{at}.insurer.identifier",
            )
        )
    patient_ref = (claim.get("patient") or {}).get("reference")
    patient = resources.get(patient_ref) if isinstance(patient_ref, str) else None
    member: JSON | None = None
    if patient is None or patient.get("resourceType") != "Patient":
        issues.append(
            _issue("required", "Claim.patient references a Patient entry", f"{at}.patient")
        )
    else:
        ids = [i for i in patient.get("identifier") or [] if isinstance(i, dict)]
        typed = [i for i in ids if _is_member_id(i)]
        member = (typed or ids)[0] if typed or ids else None
        if member is None or not isinstance(member.get("value"), str):
            issues.append(
                _issue("required", "the Patient needs a member identifier", "Patient.identifier")
            )
    items = []
    for n, item in enumerate(claim.get("item") or []):
        parsed = _coded_item(item, f"{at}.item[{n}]", issues)
        if parsed is not None:
            items.append(parsed)
    if not claim.get("item"):
        issues.append(_issue("required", "the Claim requests at least one item", f"{at}.item"))
    if len({i.sequence for i in items}) != len(items):
        issues.append(_issue("value", "item sequences must be unique", f"{at}.item"))
    related = [r for r in claim.get("related") or [] if isinstance(r, dict)]
    related_id = None
    if related:
        related_id = identifier_hash((related[0].get("claim") or {}).get("identifier"))
    if related and related_id is None:
        issues.append(
            _issue("required", "related.claim needs an identifier", f"{at}.related[0].claim")
        )
    cancel = claim.get("status") == "cancelled"
    if cancel and related_id is None:
        issues.append(
            _issue("required", "a cancellation names the request in related.claim", f"{at}.related")
        )
    if issues:
        raise PasBundleInvalid(issues)
    assert claim_id is not None
    assert member is not None
    assert isinstance(payer, str)
    codes = [c.get("code") for c in (claim.get("priority") or {}).get("coding") or []]
    priority = "expedited" if EXPEDITED_PRIORITIES & set(codes) else "standard"
    patient_entry = {"fullUrl": patient_ref, "resource": patient}
    return PasRequest(
        request=request,
        bundle=hashlib.sha256(raw).hexdigest(),
        claim=claim_id,
        related=related_id,
        cancel=cancel,
        payer=payer,
        member_system=str(member.get("system") or ""),
        member_id=str(member["value"]),
        priority=priority,
        items=tuple(items),
        patient_entry=patient_entry,
    )


def _is_member_id(identifier: JSON) -> bool:
    codings = (identifier.get("type") or {}).get("coding") or []
    return any(isinstance(c, dict) and c.get("code") == "MB" for c in codings)


# -- the response ----------------------------------------------------------------------------


def _instant(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _review_action(action: str, number: str, reasons: list[str]) -> JSON:
    parts: list[JSON] = [
        {"url": "number", "valueString": number},
        {
            "url": "code",
            "valueCodeableConcept": {
                "coding": [{"system": X12_306, "code": action, "display": _DISPLAY[action]}]
            },
        },
    ]
    for reason in reasons:
        parts.append(
            {
                "url": "reasonCode",
                "valueCodeableConcept": {"coding": [{"system": X12_REASON, "code": reason}]},
            }
        )
    return {"url": REVIEW_ACTION, "extension": parts}


def response_bundle(
    record: JSON,
    *,
    patient_entry: JSON | None,
    explanation: str | None = None,
    base_url: str = "",
) -> JSON:
    """The PAS response Bundle for a ledger record (the ``prior_auth`` view).

    ``patient_entry`` is the request's Patient entry (kept by the payer, never on chain);
    ``explanation`` the reviewer's text, whose hash the record holds."""
    status = str(record["status"])
    number = str(record["number"])
    approved = {s["sequence"]: s for s in record.get("approved") or []}
    items = []
    for item in record["items"]:
        seq = item["sequence"]
        action = status
        if status in ("A2", "A6") and seq in approved and approved[seq]["units"] == item["units"]:
            action = "A1" if status == "A2" else status
        adjudication: JSON = {
            "category": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/adjudication",
                        "code": "submitted",
                    }
                ]
            },
            "extension": [_review_action(action, number, list(record.get("reasons") or []))],
        }
        if seq in approved:
            adjudication["value"] = approved[seq]["units"]
        entry: JSON = {"itemSequence": seq, "adjudication": [adjudication]}
        if explanation and status in ("A2", "A3", "A6"):
            entry["noteNumber"] = [1]
        items.append(entry)
    patient_ref = (patient_entry or {}).get("fullUrl") or "urn:careledger:member"
    claim_response: JSON = {
        "resourceType": "ClaimResponse",
        "id": number,
        "identifier": [{"system": f"{ORG_SYSTEM}:{record['payer']}:pa", "value": number}],
        "status": "cancelled" if status == "C" else "active",
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "professional",
                }
            ]
        },
        "use": "preauthorization",
        "patient": {"reference": patient_ref},
        "created": _instant(int(record.get("decided_at") or record["submitted_at"])),
        "insurer": {"identifier": {"system": ORG_SYSTEM, "value": record["payer"]}},
        "requestor": {"identifier": {"system": ORG_SYSTEM, "value": record["requester"]}},
        "outcome": "complete" if status == "C" else _OUTCOME[status],
        "disposition": _DISPLAY[status],
        "preAuthRef": number,
        "item": items,
    }
    if approved and status in ("A1", "A2", "A6"):
        claim_response["preAuthPeriod"] = {
            "start": iso_day(min(s["start"] for s in approved.values())),
            "end": iso_day(max(s["end"] for s in approved.values())),
        }
    if explanation and status in ("A2", "A3", "A6"):
        claim_response["processNote"] = [{"number": 1, "type": "display", "text": explanation}]
    get_fhir_model_class("ClaimResponse").model_validate(claim_response)
    entries: list[JSON] = [
        {"fullUrl": f"{base_url}/ClaimResponse/{number}", "resource": claim_response}
    ]
    if patient_entry is not None:
        entries.append(patient_entry)
    bundle: JSON = {
        "resourceType": "Bundle",
        "meta": {"profile": [PAS_PROFILE]},
        "identifier": {"system": f"{ORG_SYSTEM}:{record['payer']}:pa-response", "value": number},
        "type": "collection",
        "timestamp": _instant(int(record.get("decided_at") or record["submitted_at"])),
        "entry": entries,
    }
    get_fhir_model_class("Bundle").model_validate(bundle)
    return bundle
