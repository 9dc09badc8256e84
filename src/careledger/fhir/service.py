"""FHIR interactions of one organisation: create, read, vread, update, delete, history, search.

Routes (:mod:`careledger.fhir.api`) and bundles (:mod:`careledger.fhir.bundles`) delegate here.
A write is *prepared* (validated, versioned, stamped, indexed) and then *committed* through the
store, which checks the version each prepared change was based on; so a transaction Bundle is
prepared entry by entry and committed once. Listeners hear of a commit after it happened;
:meth:`FhirService.replay_changes` tells them again of what was stored since an instant (for a
listener that missed a commit: a crash between the two, or its own failure). Another
organisation's request is checked with the access policy resource by resource.

Not for: HTTP (headers, statuses, bodies) or bundle processing.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

import msgspec

from careledger.errors import InvalidInput
from careledger.fhir.base import (
    AccessPolicy,
    AccessRequest,
    AllowAll,
    Change,
    ResourceEvent,
    ResourceListener,
    ResourceStore,
    StoredVersion,
    event_of,
    version_event,
)
from careledger.fhir.errors import AccessDenied, ResourceGone, VersionConflict
from careledger.fhir.permitted import permitted_page
from careledger.fhir.query import DEFAULT_COUNT, MAX_COUNT, SearchQuery, parse_search
from careledger.fhir.resources import (
    JSON,
    check_id,
    get_path,
    normalize_reference,
    patient_reference,
    profile,
    sensitivity,
    validate,
)
from careledger.fhir.searchparams import PARAMS, date_range, index_entries
from careledger.fhir.validation_pool import ValidationPool

log = logging.getLogger("careledger.fhir")

Interaction = Literal["read", "vread", "search", "history"]
REPLAY_BATCH = 500


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """A change ready to commit, and what listeners will be told once it is."""

    change: Change
    event: ResourceEvent


@dataclass(frozen=True, slots=True)
class WriteResult:
    version: StoredVersion
    created: bool


def decode_json(body: bytes) -> Any:
    """Decode a request body; malformed or too deeply nested JSON is a 400."""
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:  # msgspec raises it for bytes that are not UTF-8 (was a 500)
        raise InvalidInput(
            f"the body is not UTF-8 JSON: {exc.reason} at byte {exc.start}"
        ) from None
    except RecursionError:
        raise InvalidInput("the JSON body is nested too deeply") from None


class FhirService:
    """One organisation's FHIR resources over a :class:`ResourceStore`."""

    def __init__(
        self,
        store: ResourceStore,
        *,
        base_url: str,
        listener: ResourceListener | None = None,
        policy: AccessPolicy | None = None,
        validation: ValidationPool | None = None,
    ) -> None:
        """``validation``: worker processes that validate a transaction Bundle's resources
        (:mod:`careledger.fhir.validation_pool`); the owner closes it."""
        self.store = store
        self.base_url = base_url.rstrip("/")
        self.listener = listener
        self.validation = validation
        self.policy: AccessPolicy = policy or AllowAll()
        self._clock_lock = threading.Lock()
        self._last_time = datetime.min.replace(tzinfo=UTC)

    # --- writes -------------------------------------------------------------------------------

    def _now(self) -> str:
        """A strictly increasing instant, so history order is change order."""
        with self._clock_lock:
            now = max(datetime.now(UTC), self._last_time + timedelta(microseconds=1))
            self._last_time = now
        return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def prepare_write(
        self,
        resource: JSON,
        resource_id: str,
        *,
        if_match: int | None = None,
        must_be_new: bool = False,
    ) -> PreparedWrite:
        """Stamp ``meta`` and build the change for a validated ``resource`` stored as
        ``resource_id`` (create when it does not exist, else update)."""
        rtype = resource["resourceType"]
        head = self.store.head(rtype, resource_id)
        previous = head.version if head else 0
        if head is not None and head.erased:
            raise ResourceGone(f"{rtype}/{resource_id} was erased", erased=True)
        if must_be_new and head is not None:
            raise VersionConflict(f"{rtype}/{resource_id} already exists")
        if if_match is not None and if_match != previous:
            raise VersionConflict(
                f"If-Match version {if_match} but {rtype}/{resource_id} is at version {previous}"
            )
        version = previous + 1
        now = self._now()
        meta = resource.get("meta")
        resource["id"] = resource_id
        resource["meta"] = {
            **(meta if isinstance(meta, dict) else {}),
            "versionId": str(version),
            "lastUpdated": now,
        }
        content = msgspec.json.encode(resource)
        patient = patient_reference(resource, self.base_url)
        change = Change(
            rtype,
            resource_id,
            version,
            previous,
            now,
            patient,
            content,
            tuple(index_entries(resource, self.base_url)),
        )
        action: Literal["create", "update"] = "update" if head and not head.deleted else "create"
        event = version_event(action, patient, rtype, resource_id, version, None, now, resource)
        return PreparedWrite(change, event)

    def prepare_delete(
        self, resource_type: str, resource_id: str, *, if_match: int | None = None
    ) -> PreparedWrite | None:
        """The deletion of the latest version, or None when there is nothing to delete."""
        profile(resource_type)
        head = self.store.head(resource_type, check_id(resource_id))
        if head is not None and head.erased:
            raise ResourceGone(f"{resource_type}/{resource_id} was erased", erased=True)
        if if_match is not None and (head is None or if_match != head.version):
            raise VersionConflict(f"If-Match version {if_match} does not match")
        if head is None or head.deleted:
            return None
        current = self.store.read(resource_type, resource_id)
        now = self._now()
        change = Change(
            resource_type, resource_id, head.version + 1, head.version, now, current.patient, None
        )
        event = version_event(
            "update", current.patient, resource_type, resource_id, head.version + 1, None, now, None
        )
        return PreparedWrite(change, event)

    def commit(self, writes: Sequence[PreparedWrite]) -> list[StoredVersion]:
        """Commit prepared writes atomically and tell the listener."""
        hashes = self.store.commit([w.change for w in writes])
        events = []
        versions = []
        for write, content_hash in zip(writes, hashes, strict=True):
            c = write.change
            versions.append(
                StoredVersion(
                    c.resource_type,
                    c.id,
                    c.version,
                    c.last_updated,
                    c.content,
                    content_hash,
                    c.patient,
                )
            )
            e = write.event  # dataclasses.replace costs more than the rest of this loop
            events.append(
                ResourceEvent(
                    e.action, e.patient, e.resource_type, e.id, e.version, content_hash,
                    e.date, e.last_updated, e.sensitivity,
                )
            )  # fmt: skip
        if self.listener is not None and events:
            try:
                self.listener.resources_changed(events)
            except Exception:
                log.exception("a FHIR resource listener failed; the write stands")
        return versions

    def replay_changes(self, since_us: int, *, batch: int = REPLAY_BATCH) -> int:
        """Tell the listener again of every version stored at or after ``since_us`` (UTC
        microseconds of ``meta.lastUpdated``), oldest first, in calls of at most ``batch``
        events, each event as the write told it (deletions included; versions of erased
        patients skipped). Returns the number of events. Unlike :meth:`commit`, a listener
        failure is raised: what was not replayed must be replayed again."""
        if self.listener is None:
            return 0
        told = 0
        events: list[ResourceEvent] = []
        for changed in self.store.changes_since(since_us, batch=batch):
            events.append(event_of(changed.stored, created=changed.created))
            if len(events) >= batch:
                self.listener.resources_changed(events)
                told, events = told + len(events), []
        if events:
            self.listener.resources_changed(events)
            told += len(events)
        return told

    def create(self, resource_type: str, body: Any) -> WriteResult:
        resource = validate(body, resource_type)
        write = self.prepare_write(resource, str(uuid.uuid4()), must_be_new=True)
        return WriteResult(self.commit([write])[0], True)

    def update(
        self, resource_type: str, resource_id: str, body: Any, *, if_match: int | None = None
    ) -> WriteResult:
        resource = validate(body, resource_type)
        if resource.get("id") != check_id(resource_id):
            raise InvalidInput("the resource id must be present and equal the id in the URL")
        write = self.prepare_write(resource, resource_id, if_match=if_match)
        return WriteResult(self.commit([write])[0], write.change.previous == 0)

    def delete(
        self, resource_type: str, resource_id: str, *, if_match: int | None = None
    ) -> StoredVersion | None:
        write = self.prepare_delete(resource_type, resource_id, if_match=if_match)
        return self.commit([write])[0] if write else None

    def erase_patient(self, patient: str) -> int:
        """Crypto-shred every version of ``patient``'s data (``Patient/<id>`` or the id)."""
        patient = patient if "/" in patient else f"Patient/{check_id(patient)}"
        count = self.store.erase_patient(patient)
        if self.listener is not None:
            try:
                self.listener.patient_erased(patient)
            except Exception:
                log.exception("a FHIR resource listener failed on erasure; the erasure stands")
        return count

    # --- reads --------------------------------------------------------------------------------

    def read(
        self,
        resource_type: str,
        resource_id: str,
        version: int | None = None,
        *,
        requester: str | None = None,
    ) -> StoredVersion:
        profile(resource_type)
        found = self.store.read(resource_type, check_id(resource_id), version)
        if requester is not None:
            decision = self._decide(found, requester, "read" if version is None else "vread")
            if not decision:
                raise AccessDenied(f"{requester} may not read {resource_type}/{resource_id}")
        return found

    def _decide(
        self, found: StoredVersion, requester: str, interaction: Interaction, *, record: bool = True
    ) -> bool:
        """The access policy's answer; ``record=False``: without an audit note (counting)."""
        resource = msgspec.json.decode(found.content) if found.content else {}
        request = AccessRequest(
            requester,
            interaction,
            found.resource_type,
            found.id,
            found.patient,
            sensitivity(resource),
        )
        if not record:
            return self.policy.permits(request)
        return self.policy.decide(request).permitted

    def search(
        self,
        resource_type: str,
        params: Iterable[tuple[str, str]],
        *,
        requester: str | None = None,
    ) -> JSON:
        """A searchset Bundle (resources embedded as the stored bytes)."""
        profile(resource_type)
        query = parse_search(resource_type, params, self.base_url)
        if requester is None:
            matches, total = self.store.search(query)
        else:  # counted and paged over what it may see (careledger.fhir.permitted)
            matches, total = permitted_page(
                lambda at, n: self.store.search(replace(query, offset=at, count=n)),
                lambda m: self._decide(m, requester, "search", record=False),
                query.offset,
                query.count,
            )
            matches = [m for m in matches if self._decide(m, requester, "search")]
        included = self._includes(query, matches)
        if requester is not None:
            included = [m for m in included if self._decide(m, requester, "search")]
        entries = [self._entry(m, {"mode": "match"}) for m in matches]
        entries += [self._entry(m, {"mode": "include"}) for m in included]
        if query.ignored:
            entries.append(
                {
                    "resource": _information(
                        f"ignored parameters: {', '.join(sorted(set(query.ignored)))}"
                    ),
                    "search": {"mode": "outcome"},
                }
            )
        bundle: JSON = {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "searchset",
            "total": total,
        }
        bundle["link"] = self._links(
            f"{resource_type}", list(query.applied), query.count, query.offset, total
        )
        bundle["entry"] = entries
        return bundle

    def _includes(self, query: SearchQuery, matches: list[StoredVersion]) -> list[StoredVersion]:
        if not query.includes or not matches:
            return []
        wanted: list[tuple[str, str]] = []
        seen = {(m.resource_type, m.id) for m in matches}
        for match in matches:
            resource = msgspec.json.decode(match.content or b"{}")
            for include in query.includes:
                param = PARAMS[query.resource_type][include.param]
                for path in param.paths:
                    for ref in get_path(resource, f"{path}.reference"):
                        if not isinstance(ref, str):
                            continue
                        rtype, _, rid = normalize_reference(ref, self.base_url).partition("/")
                        key = (rtype, rid)
                        if (
                            include.target in (None, rtype)
                            and rtype in PARAMS
                            and key not in seen
                            and "/" not in rid
                        ):
                            seen.add(key)
                            wanted.append(key)
        return self.store.read_current(wanted)

    def history(
        self,
        resource_type: str,
        resource_id: str | None,
        params: Iterable[tuple[str, str]],
        *,
        requester: str | None = None,
    ) -> JSON:
        """A history Bundle, newest first, paged like a search."""
        profile(resource_type)
        count, offset, since = DEFAULT_COUNT, 0, None
        applied: list[tuple[str, str]] = []
        for key, value in params:
            if key in ("_count", "_offset") and not value.isdigit():
                raise InvalidInput(f"{key} must be a non-negative integer")
            if key == "_count":
                count = min(int(value[:9]), MAX_COUNT)
            elif key == "_offset":
                offset = int(value[:9])
            elif key == "_since":
                since = date_range(value)[0]
                applied.append((key, value))
        rid = check_id(resource_id) if resource_id is not None else None
        if requester is None:
            versions, total = self.store.history(resource_type, rid, since, count, offset)
        else:  # deletions included: that a resource was deleted is not for it to know either
            versions, total = permitted_page(
                lambda at, n: self.store.history(resource_type, rid, since, n, at),
                lambda v: self._decide(v, requester, "history", record=False),
                offset,
                count,
            )
            versions = [v for v in versions if self._decide(v, requester, "history")]
        path = f"{resource_type}/{rid}/_history" if rid else f"{resource_type}/_history"
        entries = []
        for v in versions:
            method = "DELETE" if v.deleted else ("POST" if v.version == 1 else "PUT")
            entry: JSON = (
                self._entry(v, None)
                if not v.deleted
                else {"fullUrl": f"{self.base_url}/{v.resource_type}/{v.id}"}
            )
            entry["request"] = {
                "method": method,
                "url": f"{v.resource_type}/{v.id}" if method != "POST" else v.resource_type,
            }
            entry["response"] = {
                "status": "204" if v.deleted else ("201" if v.version == 1 else "200"),
                "etag": f'W/"{v.version}"',
                "lastModified": v.last_updated,
            }
            entries.append(entry)
        return {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "history",
            "total": total,
            "link": self._links(path, applied, count, offset, total),
            "entry": entries,
        }

    def _entry(self, found: StoredVersion, search: JSON | None) -> JSON:
        entry: JSON = {
            "fullUrl": f"{self.base_url}/{found.resource_type}/{found.id}",
            "resource": msgspec.Raw(found.content or b"{}"),
        }
        if search is not None:
            entry["search"] = search
        return entry

    def _links(
        self, path: str, applied: list[tuple[str, str]], count: int, offset: int, total: int
    ) -> list[JSON]:
        def url(at: int) -> str:
            return f"{self.base_url}/{path}?" + urlencode(
                [*applied, ("_count", str(count)), ("_offset", str(at))]
            )

        links = [{"relation": "self", "url": url(offset)}]
        if count and offset + count < total:
            links.append({"relation": "next", "url": url(offset + count)})
        if count and offset > 0:
            links.append({"relation": "previous", "url": url(max(0, offset - count))})
        return links


def _information(message: str) -> JSON:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "diagnostics": message}],
    }
