"""``Patient/$everything`` across the consortium: the longitudinal record, verified on the ledger.

Two halves of one operation, both served by :class:`LongitudinalRecord`:

* **At a requesting organisation** (its own user calls ``GET /Patient/{id}/$everything``): look
  up the patient's locator handle, ask the ``locator`` contract for every entry, fetch each
  holder's part in parallel, verify every resource against its entry (resource ref, version and
  salted content hash; mismatches are excluded and named in an OperationOutcome entry),
  de-duplicate, order by clinical date and return one searchset Bundle. Each entry carries its
  source organisation and salt as extensions, so a client can re-verify it against the ledger.
  ``_since`` (instant, on ``meta.lastUpdated``), ``_type``, ``_count`` and ``_offset`` paging.
* **At a holder** (another organisation calls ``GET /Patient/$everything?identifier=<DID>``):
  every resource of the enrolled patient that an active consent covers (see
  :class:`~careledger.longitudinal.ledger.ProviderLedger`), each with its salt; or everything under
  break-glass (``X-CareLedger-Break-Glass: <reason>``, purpose forced to ``ETREAT``), which is
  audited *before* anything is returned and leaves a notice the patient can query. A request that
  nothing covers is 403, and audited as a denial.

Purpose of use comes from ``X-CareLedger-Purpose`` (default ``TREAT``) and a practitioner from
``X-CareLedger-Practitioner`` (a DID). Who the requesting organisation is comes from
``create_app(..., requester=...)``: the node's authenticated identity, never a header — except
:func:`org_header_requester`, for consortia running in one process (demo, tests, bench).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args
from urllib.parse import urlencode

import httpx
import msgspec
from starlette.requests import Request

from careledger.contracts import record_locator as locator
from careledger.contracts.phi_guard import BreakGlassReason, Purpose
from careledger.errors import InvalidInput
from careledger.fhir.errors import AccessDenied, ResourceNotFound
from careledger.fhir.resources import (
    JSON,
    SUPPORTED_TYPES,
    SensitivityLabel,
    check_id,
    clinical_date,
    sensitivity,
)
from careledger.fhir.searchparams import date_range
from careledger.fhir.service import FhirService
from careledger.longitudinal.ledger import PatientLink, ProviderLedger, patient_resources
from careledger.longitudinal.read_cache import KnownResources, LocatorEntries, ResourceFacts

DID_SYSTEM = "urn:ietf:rfc:3986"
SOURCE_EXT = "https://careledger.dev/fhir/StructureDefinition/source-organization"
SALT_EXT = "https://careledger.dev/fhir/StructureDefinition/locator-salt"
ORG_HEADER = "x-careledger-org"
PURPOSE_HEADER = "x-careledger-purpose"
BREAK_GLASS_HEADER = "x-careledger-break-glass"
PRACTITIONER_HEADER = "x-careledger-practitioner"
DEFAULT_COUNT = 100
MAX_COUNT = 1000
MAX_LABELS = 200_000
PURPOSES = frozenset(get_args(Purpose))
BREAK_GLASS_REASONS = frozenset(get_args(BreakGlassReason))


def org_header_requester(request: Request) -> str | None:
    """The requesting organisation from ``X-CareLedger-Org``. Only for consortia in one process,
    where the transport is the process itself; a served API must authenticate the caller."""
    return request.headers.get(ORG_HEADER) or None


@dataclass(frozen=True, slots=True)
class HolderEndpoint:
    """Where another organisation's FHIR API answers, and the client to reach it."""

    base_url: str
    client: httpx.AsyncClient


class _Ext(msgspec.Struct):
    url: str
    valueBase64Binary: str | None = None


class _Entry(msgspec.Struct):
    resource: msgspec.Raw
    extension: list[_Ext] = []


class _Bundle(msgspec.Struct):
    entry: list[_Entry] = []


class _Meta(msgspec.Struct):
    versionId: str = ""
    lastUpdated: str = ""


class _Head(msgspec.Struct):
    resourceType: str
    id: str = ""
    meta: _Meta = msgspec.field(default_factory=_Meta)


@dataclass
class _Verified:
    raw: bytes
    salt: bytes
    rtype: str
    rid: str
    last_updated: str
    date: str
    sources: list[str] = field(default_factory=list)
    base: str = ""


@dataclass(frozen=True, slots=True)
class _Ask:
    purpose: str
    practitioner: str | None
    break_glass: str | None


def _issue(severity: str, code: str, text: str) -> JSON:
    return {"severity": severity, "code": code, "diagnostics": text}


def _ask(headers: Mapping[str, str]) -> _Ask:
    purpose = headers.get(PURPOSE_HEADER, "TREAT").strip().upper()
    reason = headers.get(BREAK_GLASS_HEADER, "").strip().upper() or None
    if reason is not None:
        if reason not in BREAK_GLASS_REASONS:
            raise InvalidInput(
                f"break-glass needs a reason code: {', '.join(sorted(BREAK_GLASS_REASONS))}"
            )
        purpose = "ETREAT"
    if purpose not in PURPOSES:
        raise InvalidInput(f"unknown purpose of use; one of {', '.join(sorted(PURPOSES))}")
    practitioner = headers.get(PRACTITIONER_HEADER) or None
    return _Ask(purpose, practitioner, reason)


class LongitudinalRecord:
    """The ``$everything`` handler given to :func:`careledger.fhir.api.create_app`."""

    def __init__(
        self,
        service: FhirService,
        ledger: ProviderLedger,
        holders: Mapping[str, HolderEndpoint],
        *,
        timeout: float = 10.0,
    ) -> None:
        self.service = service
        self.ledger = ledger
        self.holders = dict(holders)
        self.timeout = timeout
        gateway = getattr(ledger.session, "gateway", None)
        self._entries = LocatorEntries(getattr(gateway, "peer", None))
        self._known = KnownResources()
        self._labels: dict[bytes, SensitivityLabel] = {}

    async def __call__(
        self,
        patient_id: str | None,
        params: list[tuple[str, str]],
        headers: Mapping[str, str],
        requester: str | None,
    ) -> JSON:
        ask = _ask(headers)
        if requester is not None and requester != self.ledger.org:
            return await self.holder_part(self._link_for(patient_id, params), requester, ask)
        if patient_id is None:
            raise InvalidInput("$everything at the type level is for other organisations")
        return await self.assemble(check_id(patient_id), params, ask)

    def _link_for(self, patient_id: str | None, params: list[tuple[str, str]]) -> PatientLink:
        link: PatientLink | None = None
        if patient_id is not None:
            link = self.ledger.directory.by_patient(f"Patient/{check_id(patient_id)}")
        else:
            for key, value in params:
                if key == "identifier":
                    link = self.ledger.directory.by_did(value.removeprefix(f"{DID_SYSTEM}|"))
        if link is None or link.erased:
            raise ResourceNotFound("no enrolled patient with that identifier")
        return link

    # -- the holder's part ---------------------------------------------------------------------
    async def holder_part(self, link: PatientLink, requester: str, ask: _Ask) -> JSON:
        versions = await asyncio.to_thread(patient_resources, self.service, link.patient)
        ledger, audit = self.ledger, self.ledger.audit
        served: list[JSON] = []
        notes: list[dict[str, Any]] = []
        withheld = 0
        # one decision per (type, label) for this request: the consents and the time are the
        # same for every resource of one answer
        decided: dict[tuple[str, SensitivityLabel], tuple[bool, str]] = {}
        for v in versions:
            content = v.content or b"{}"
            salt_bytes = ledger.salt(v.resource_type, v.id)
            ref = locator.resource_ref(salt_bytes, v.resource_type, v.id)
            note = {
                "handle": link.handle, "action": "disclose", "reason": "break-glass",
                "requester": requester, "purpose": "ETREAT", "resource_type": v.resource_type,
                "ref": ref, "count": 1, "practitioner": ask.practitioner,
                "break_glass_reason": ask.break_glass,
            }  # fmt: skip
            if ask.break_glass is None:
                label = self._label(content)
                key = (v.resource_type, label)
                if key not in decided:
                    decided[key] = ledger.evaluate(
                        link, requester, purpose=ask.purpose, resource_type=v.resource_type,
                        label=label, practitioner=ask.practitioner,
                    )  # fmt: skip
                permitted, reason = decided[key]
                note.update(
                    action="disclose" if permitted else "deny", reason=reason, purpose=ask.purpose
                )
                notes.append(note)
                if not permitted:
                    withheld += 1
                    continue
            else:
                notes.append(note)
            salt = base64.b64encode(salt_bytes).decode()
            served.append(
                {
                    "fullUrl": f"{self.service.base_url}/{v.resource_type}/{v.id}",
                    "resource": msgspec.Raw(content),
                    "extension": [{"url": SALT_EXT, "valueBase64Binary": salt}],
                }
            )
        audit.notes(notes)  # every decision, in one local transaction, before the answer
        if ask.break_glass is not None:
            await audit.flush()  # break-glass is on the ledger before anything leaves
        if versions and not served:
            raise AccessDenied(f"no active consent on the ledger covers {requester}'s request")
        entries: list[Any] = served
        if withheld:
            entries.append(
                {
                    "resource": {
                        "resourceType": "OperationOutcome",
                        "issue": [_issue("information", "suppressed", f"{withheld} withheld")],
                    },
                    "search": {"mode": "outcome"},
                }
            )
        return {"resourceType": "Bundle", "type": "collection", "entry": entries}

    def _label(self, content: bytes) -> SensitivityLabel:
        """The resource's security label, kept by the SHA-256 of its exact bytes."""
        digest = hashlib.sha256(content).digest()
        label = self._labels.get(digest)
        if label is None:
            if len(self._labels) >= MAX_LABELS:
                self._labels.clear()
            label = self._labels[digest] = sensitivity(msgspec.json.decode(content))
        return label

    # -- the requesting organisation's assembly ------------------------------------------------
    async def assemble(self, patient_id: str, params: list[tuple[str, str]], ask: _Ask) -> JSON:
        since_us, types, count, offset = _paging(params)
        newest = _newest_first(params)  # bad input refused before any holder is asked
        link = self.ledger.directory.by_patient(f"Patient/{patient_id}")
        if link is None or link.erased:
            raise ResourceNotFound(f"Patient/{patient_id} is not enrolled with a DID here")
        since_ms = since_us // 1000 if since_us is not None else 0
        found = self._entries.get(
            link.handle, sorted(types), since_ms,
            lambda: self.ledger.session.query(
                locator.NAMESPACE, "entries", [link.handle, sorted(types), since_ms]
            ),
        )  # fmt: skip
        by_holder: dict[str, dict[str, dict[str, Any]]] = {}
        for entry in found:
            if entry["status"] == "active":
                by_holder.setdefault(entry["holder"], {})[entry["ref"]] = entry
        issues: list[JSON] = []
        results = await asyncio.gather(
            *(self._fetch(holder, link, ask) for holder in sorted(by_holder))
        )
        merged: dict[tuple[str, str], _Verified] = {}
        for holder, (received, problem) in zip(sorted(by_holder), results, strict=True):
            if problem:
                issues.append(problem)
                continue
            expected = by_holder[holder]
            matched, verified = _verify(holder, received, expected, issues, self._known)
            missing = len(expected) - matched
            if missing > 0:
                issues.append(
                    _issue("information", "suppressed", f"{holder}: {missing} indexed resources "
                           "not received (withheld by consent, or not current)")
                )  # fmt: skip
            for item in verified:
                key = (item.rtype, item.rid)
                other = merged.get(key)
                if other is None or item.last_updated > other.last_updated:
                    if other is not None:
                        item.sources = other.sources + item.sources
                    merged[key] = item
                else:
                    other.sources.extend(item.sources)
        chosen = [
            v for v in merged.values()
            if (not types or v.rtype in types)
            and (since_us is None or _micros(v.last_updated) >= since_us)
        ]  # fmt: skip
        chosen.sort(key=lambda v: (v.date, v.rtype, v.rid), reverse=newest)
        chosen.sort(key=lambda v: v.rtype != "Patient")  # stable: the Patient first
        page = chosen[offset : offset + count]
        entries: list[Any] = [
            {
                "fullUrl": f"{v.base}/{v.rtype}/{v.rid}",
                "resource": msgspec.Raw(v.raw),
                "search": {"mode": "match"},
                "extension": [
                    *({"url": SOURCE_EXT, "valueString": s} for s in v.sources),
                    {"url": SALT_EXT, "valueBase64Binary": base64.b64encode(v.salt).decode()},
                ],
            }
            for v in page
        ]
        if issues:
            entries.append(
                {
                    "resource": {"resourceType": "OperationOutcome", "issue": issues},
                    "search": {"mode": "outcome"},
                }
            )
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(chosen),
            "link": self._links(patient_id, params, count, offset, len(chosen)),
            "entry": entries,
        }

    async def _fetch(
        self, holder: str, link: PatientLink, ask: _Ask
    ) -> tuple[list[tuple[bytes, bytes, str]], JSON | None]:
        """(raw resource, salt, base url) triples from ``holder``, or a problem issue."""
        if holder == self.ledger.org:
            versions = await asyncio.to_thread(patient_resources, self.service, link.patient)
            base = self.service.base_url
            return [
                (v.content or b"{}", self.ledger.salt(v.resource_type, v.id), base)
                for v in versions
            ], None
        endpoint = self.holders.get(holder)
        if endpoint is None:
            return [], _issue("warning", "not-found", f"{holder}: no FHIR endpoint configured")
        headers = {ORG_HEADER: self.ledger.org, PURPOSE_HEADER: ask.purpose}
        if ask.break_glass:
            headers[BREAK_GLASS_HEADER] = ask.break_glass
        if ask.practitioner:
            headers[PRACTITIONER_HEADER] = ask.practitioner
        try:
            response = await endpoint.client.get(
                f"{endpoint.base_url}/Patient/$everything",
                params={"identifier": f"{DID_SYSTEM}|{link.did}"},
                headers=headers,
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            return [], _issue(
                "warning", "transient", f"{holder}: unreachable ({type(exc).__name__})"
            )
        if response.status_code == 403:
            return [], _issue("warning", "forbidden", f"{holder}: refused (no consent covers it)")
        if response.status_code != 200:
            return [], _issue("warning", "exception", f"{holder}: answered {response.status_code}")
        try:
            bundle = msgspec.json.decode(response.content, type=_Bundle)
        except msgspec.DecodeError:
            return [], _issue("error", "invalid", f"{holder}: answered an invalid Bundle")
        out = []
        for entry in bundle.entry:
            salt = next((e.valueBase64Binary for e in entry.extension if e.url == SALT_EXT), None)
            if salt is not None:
                out.append((bytes(entry.resource), base64.b64decode(salt), endpoint.base_url))
        return out, None

    def _links(
        self, patient_id: str, params: list[tuple[str, str]], count: int, offset: int, total: int
    ) -> list[JSON]:
        kept = [(k, v) for k, v in params if k not in ("_count", "_offset")]
        base = f"{self.service.base_url}/Patient/{patient_id}/$everything?"

        def url(at: int) -> str:
            return base + urlencode([*kept, ("_count", str(count)), ("_offset", str(at))])

        links = [{"relation": "self", "url": url(offset)}]
        if offset + count < total:
            links.append({"relation": "next", "url": url(offset + count)})
        if offset > 0:
            links.append({"relation": "previous", "url": url(max(0, offset - count))})
        return links


def _verify(
    holder: str,
    received: list[tuple[bytes, bytes, str]],
    expected: dict[str, dict[str, Any]],
    issues: list[JSON],
    known: KnownResources,
) -> tuple[int, list[_Verified]]:
    """What matches its locator entry, and how many entries were matched (or refuted)."""
    verified: list[_Verified] = []
    seen: set[str] = set()
    for raw, salt, base in received:
        digest = hashlib.sha256(raw).digest()
        facts = known.get(digest, salt)
        if facts is None:
            try:
                head = msgspec.json.decode(raw, type=_Head)
            except msgspec.DecodeError:
                issues.append(_issue("error", "invalid", f"{holder}: a resource is not valid JSON"))
                continue
            facts = ResourceFacts(
                head.resourceType, head.id, head.meta.versionId, head.meta.lastUpdated,
                locator.resource_ref(salt, head.resourceType, head.id),
                locator.salted_content_hash(salt, digest.hex()),
            )  # fmt: skip
            known.put(digest, salt, facts)
        entry = expected.get(facts.ref)
        if entry is None:
            continue  # not indexed (e.g. outside _type/_since): not part of this answer
        seen.add(facts.ref)
        if facts.version != str(entry["version"]) or facts.content_hash != entry["content_hash"]:
            issues.append(
                _issue("error", "processing", f"{facts.rtype}/{facts.rid} from {holder} does not "
                       "match its hash on the ledger; excluded")
            )  # fmt: skip
            continue
        if facts.date is None:
            facts.date = clinical_date(msgspec.json.decode(raw)) or ""
        verified.append(
            _Verified(raw, salt, facts.rtype, facts.rid, facts.last_updated,
                      facts.date or facts.last_updated, [holder], base)
        )  # fmt: skip
    return len(seen), verified


def _newest_first(params: list[tuple[str, str]]) -> bool:
    """``_sort=-date``: newest clinical date first (default ``date``: oldest first)."""
    order = [v for k, v in params if k == "_sort"]
    if any(v not in ("date", "-date") for v in order):
        raise InvalidInput("_sort: only date or -date")
    return order[-1:] == ["-date"]


def _micros(instant: str) -> int:
    return date_range(instant)[0]


def _paging(params: list[tuple[str, str]]) -> tuple[int | None, set[str], int, int]:
    since: int | None = None
    types: set[str] = set()
    count, offset = DEFAULT_COUNT, 0
    for key, value in params:
        if key == "_since":
            since = date_range(value)[0]
        elif key == "_type":
            for t in value.split(","):
                if t not in SUPPORTED_TYPES:
                    raise InvalidInput(f"_type: unsupported type {t[:40]!r}")
                types.add(t)
        elif key in ("_count", "_offset"):
            if not value.isdigit() or len(value) > 9:
                raise InvalidInput(f"{key} must be a non-negative integer")
            if key == "_count":
                count = min(int(value), MAX_COUNT)
            else:
                offset = int(value)
    return since, types, count, offset
