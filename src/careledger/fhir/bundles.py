"""Transaction and batch Bundles.

A *transaction* is all or nothing: every entry is validated and prepared first (POSTs get new
ids and ``urn:uuid:`` references to them are rewritten everywhere in the Bundle), then all
writes commit in one store transaction; any failure leaves nothing stored and answers one
OperationOutcome naming the entry. Reads (GET) run after the writes, as FHIR orders them.
A *batch* runs each entry on its own and reports each entry's status.

Not for: HTTP; the routes hand the decoded Bundle here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from careledger.errors import CareLedgerError, InvalidInput
from careledger.fhir.base import StoredVersion
from careledger.fhir.errors import InvalidResource
from careledger.fhir.outcome import outcome_for
from careledger.fhir.resources import JSON, check_id, profile, validate
from careledger.fhir.service import FhirService, PreparedWrite

MAX_ENTRIES = 1000
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3}


@dataclass(frozen=True, slots=True)
class Target:
    """What an entry's ``request.url`` names: a type, an instance, a version or a search."""

    resource_type: str
    id: str | None = None
    version: int | None = None
    query: tuple[tuple[str, str], ...] | None = None


def process_bundle(service: FhirService, body: Any, *, requester: str | None = None) -> JSON:
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise InvalidInput("POST to the base URL takes a transaction or batch Bundle")
    kind = body.get("type")
    entries = body.get("entry", [])
    if kind not in ("transaction", "batch") or not isinstance(entries, list):
        raise InvalidInput("the Bundle type must be transaction or batch")
    if len(entries) > MAX_ENTRIES:
        raise InvalidInput(f"a Bundle may hold at most {MAX_ENTRIES} entries")
    if kind == "transaction":
        return _transaction(service, entries, requester)
    return _batch(service, entries, requester)


def _request(entry: Any, index: int) -> tuple[str, Target, JSON]:
    where = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        raise InvalidInput(f"{where}.request is missing")
    request = entry["request"]
    method, url = request.get("method"), request.get("url")
    # A method of any JSON type may arrive (a list is unhashable: the lookup raised, a 500).
    if not isinstance(method, str) or method not in _ORDER or not isinstance(url, str):
        raise InvalidInput(f"{where}.request needs a method (GET, POST, PUT, DELETE) and url")
    return method, _target(url, method, where), request


def _target(url: str, method: str, where: str) -> Target:
    path, _, query = url.partition("?")
    parts = path.strip("/").split("/")
    profile(parts[0])
    if query:
        if method != "GET" or len(parts) != 1:
            raise InvalidInput(f"{where}: conditional operations are not supported")
        return Target(parts[0], query=tuple(parse_qsl(query, keep_blank_values=True)))
    if len(parts) == 1 and method in ("POST", "GET"):
        return Target(parts[0], query=() if method == "GET" else None)
    if len(parts) == 2 and method != "POST":
        return Target(parts[0], check_id(parts[1]))
    if len(parts) == 4 and parts[2] == "_history" and parts[3].isdigit() and method == "GET":
        return Target(parts[0], check_id(parts[1]), int(parts[3][:9]))
    raise InvalidInput(f"{where}: unsupported request url {url[:100]!r}")


def _if_match(request: JSON) -> int | None:
    value = request.get("ifMatch")
    return parse_etag(value) if isinstance(value, str) else None


def parse_etag(value: str) -> int:
    """The version in an ETag (``W/"3"``, ``"3"`` or ``3``)."""
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise InvalidInput(f"invalid ETag {value[:40]!r}")
    return int(text[:9])


def _rewrite(value: Any, ids: dict[str, str]) -> Any:
    """Replace ``urn:uuid:`` references (and ``reference`` strings) by the assigned ids."""
    if isinstance(value, dict):
        return {
            k: (ids.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, ids))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(v, ids) for v in value]
    return value


def _transaction(service: FhirService, entries: list[Any], requester: str | None) -> JSON:
    requests = [_request(e, i) for i, e in enumerate(entries)]
    ids: dict[str, str] = {}
    assigned: dict[int, str] = {}
    for i, (method, target, _) in enumerate(requests):
        full_url = entries[i].get("fullUrl")
        if method == "POST":
            assigned[i] = str(uuid.uuid4())
            if isinstance(full_url, str) and full_url.startswith("urn:"):
                ids[full_url] = f"{target.resource_type}/{assigned[i]}"
    bodies = _checked_bodies(service, entries, requests, ids)
    writes: dict[int, PreparedWrite | None] = {}
    touched: set[tuple[str, str]] = set()
    for i in sorted(range(len(requests)), key=lambda k: _ORDER[requests[k][0]]):
        method, target, request = requests[i]
        where = f"Bundle.entry[{i}]"
        if method == "GET":
            continue
        rid = assigned.get(i) or target.id or ""
        if (target.resource_type, rid) in touched:
            raise InvalidInput(f"{where}: {target.resource_type}/{rid} appears twice")
        touched.add((target.resource_type, rid))
        try:
            if method == "DELETE":
                writes[i] = service.prepare_delete(
                    target.resource_type, rid, if_match=_if_match(request)
                )
                continue
            if i in bodies:  # validated in the service's pool
                resource, error = bodies[i]
                if error is not None:
                    raise error
            else:
                resource = entries[i].get("resource")
                resource = validate(
                    _rewrite(resource, ids) if ids else resource,
                    target.resource_type,
                    f"{where}.resource",
                )
            if method == "PUT" and resource.get("id") != rid:
                raise InvalidInput(f"{where}.resource.id must equal the id in request.url")
            writes[i] = service.prepare_write(
                resource, rid, if_match=_if_match(request), must_be_new=method == "POST"
            )
        except InvalidResource:
            raise
        except InvalidInput as exc:  # name the entry; other errors name the resource already
            raise InvalidInput(f"{where}: {exc}") from None
    prepared = [(i, w) for i, w in writes.items() if w is not None]
    committed = service.commit([w for _, w in prepared])
    results: dict[int, JSON] = {
        i: _write_response(service, v, writes[i])
        for (i, _), v in zip(prepared, committed, strict=True)
    }
    for i, (method, target, _) in enumerate(requests):
        if method == "DELETE" and i not in results:
            results[i] = {"response": {"status": "204 No Content"}}
        elif method == "GET":
            results[i] = _read_entry(service, target, requester)
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "transaction-response",
        "entry": [results[i] for i in range(len(requests))],
    }


def _checked_bodies(
    service: FhirService,
    entries: list[Any],
    requests: list[tuple[str, Target, JSON]],
    ids: dict[str, str],
) -> dict[int, tuple[Any, CareLedgerError | None]]:
    """With the service's validation pool: every POST/PUT entry's resource (references
    rewritten) and its validation error, checked at once; the caller raises each error where
    it would have validated the entry. Without a pool: nothing (validated one by one)."""
    pool = service.validation
    if pool is None:
        return {}
    index = [i for i, (method, _, _) in enumerate(requests) if method in ("POST", "PUT")]
    if len(index) < pool.min_items:
        return {}
    bodies = [
        _rewrite(entries[i].get("resource"), ids) if ids else entries[i].get("resource")
        for i in index
    ]
    items = [
        (body, requests[i][1].resource_type, f"Bundle.entry[{i}].resource")
        for i, body in zip(index, bodies, strict=True)
    ]
    errors = pool.errors(items)
    return {i: (body, error) for i, body, error in zip(index, bodies, errors, strict=True)}


def _batch(service: FhirService, entries: list[Any], requester: str | None) -> JSON:
    out: list[JSON] = []
    for i, entry in enumerate(entries):
        try:
            method, target, request = _request(entry, i)
            if method == "GET":
                out.append(_read_entry(service, target, requester))
                continue
            if method == "DELETE":
                deleted = service.delete(
                    target.resource_type, target.id or "", if_match=_if_match(request)
                )
                out.append(
                    {"response": {"status": "204 No Content"}}
                    if deleted is None
                    else _write_response(service, deleted, None)
                )
                continue
            resource = validate(
                entry.get("resource"), target.resource_type, f"Bundle.entry[{i}].resource"
            )
            if method == "POST":
                result = service.commit(
                    [service.prepare_write(resource, str(uuid.uuid4()), must_be_new=True)]
                )[0]
                out.append(_write_response(service, result, None, created=True))
            else:
                if resource.get("id") != target.id:
                    raise InvalidInput("resource.id must equal the id in request.url")
                write = service.prepare_write(
                    resource, target.id or "", if_match=_if_match(request)
                )
                out.append(_write_response(service, service.commit([write])[0], write))
        except CareLedgerError as exc:
            out.append(_error_entry(exc))
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "batch-response",
        "entry": out,
    }


def _read_entry(service: FhirService, target: Target, requester: str | None) -> JSON:
    try:
        if target.query is not None:
            bundle = service.search(target.resource_type, target.query, requester=requester)
            return {"resource": bundle, "response": {"status": "200 OK"}}
        found = service.read(
            target.resource_type, target.id or "", target.version, requester=requester
        )
        return {
            "resource": msgspec.Raw(found.content or b"{}"),
            "response": {"status": "200 OK", **_headers_of(found)},
        }
    except CareLedgerError as exc:
        return _error_entry(exc)


def _write_response(
    service: FhirService,
    version: StoredVersion,
    write: PreparedWrite | None,
    *,
    created: bool | None = None,
) -> JSON:
    is_new = created if created is not None else bool(write and write.change.previous == 0)
    status = "204 No Content" if version.deleted else ("201 Created" if is_new else "200 OK")
    response: JSON = {"status": status, **_headers_of(version)}
    response["location"] = (
        f"{service.base_url}/{version.resource_type}/{version.id}/_history/{version.version}"
    )
    entry: JSON = {"response": response}
    if version.content is not None:
        entry["fullUrl"] = f"{service.base_url}/{version.resource_type}/{version.id}"
        entry["resource"] = msgspec.Raw(version.content)
    return entry


def _headers_of(version: StoredVersion) -> JSON:
    return {"etag": f'W/"{version.version}"', "lastModified": version.last_updated}


def _error_entry(error: BaseException) -> JSON:
    status, outcome = outcome_for(error)
    return {"response": {"status": str(status), "outcome": outcome}}
