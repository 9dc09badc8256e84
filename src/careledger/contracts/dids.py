"""The ``dids`` system contract: did:careledger documents anchored on the ledger.

A did:careledger DID is ``did:careledger:<fingerprint of its initial Ed25519 key>`` (the same
identifier :class:`careledger.identity.did.InMemoryDidRegistry` derives). The transaction creator
is a consortium member (a payer, a clinic…), but the DID's controller — often a patient — is not a
member, so every operation carries its own proof: an Ed25519 signature by a current
authentication key of the DID (for ``create``, by the initial key) over
:func:`operation_payload`, which binds the DID, the operation, its argument and the version it
applies to (so an old signature cannot be replayed). The contract verifies it with
:func:`careledger.crypto.keys.verify`; nothing here reads a clock or draws randomness.

No PHI: a document holds Ed25519 keys and service endpoints only. Service ids and types are
short identifiers and endpoints are plain ``https`` URLs without query or fragment; anything
else (names, notes, extra fields) is refused by the argument schemas.

Every change writes a new :class:`DidRecord` under ``did/<DID>``; older versions are read from the
key's history, so ``resolve`` can answer as of a version or as of a block.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query
from careledger.crypto import encoding
from careledger.crypto.keys import verify
from careledger.errors import ContractError, InvalidInput
from careledger.identity.did.errors import InvalidDid
from careledger.identity.did.keys import KeyType, PublicKey, key_fingerprint
from careledger.identity.did.web_method import render_did_json

NAMESPACE = "dids"
METHOD_PREFIX = "did:careledger:"
MAX_KEYS = 8
MAX_SERVICES = 8
OPERATION_DOMAIN = "careledger/dids/operation/v1"

_ServiceId = Annotated[str, msgspec.Meta(pattern=r"^#[A-Za-z0-9._-]{1,48}$")]
_ServiceType = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9]{0,47}$")]
# https, host, optional port and path of URL-safe characters; no query, fragment or userinfo.
_Endpoint = Annotated[
    str,
    msgspec.Meta(
        max_length=200,
        pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$",
    ),
]
_Multikey = Annotated[str, msgspec.Meta(pattern=r"^z6Mk[1-9A-HJ-NP-Za-km-z]{40,50}$")]
_DID_RE = re.compile(r"^did:careledger:[1-9A-HJ-NP-Za-km-z]{10,30}$")


class ServiceEndpoint(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """A DID service: ``#fragment`` id, identifier type, https endpoint — no free text."""

    id: _ServiceId
    type: _ServiceType
    service_endpoint: _Endpoint  # serviceEndpoint


class DidRecord(msgspec.Struct, frozen=True):
    """The current state of one DID; earlier states are in the key's history."""

    did: str
    version: int
    keys: list[str]  # Ed25519 Multikeys, in order (#key-1, #key-2 …)
    services: list[ServiceEndpoint]
    deactivated: bool
    created: int  # ms since the epoch, from the creating proposal
    updated: int
    anchored_by: str  # organisation whose member submitted the creation


def operation_payload(did: str, op: str, arg: Any, version: int) -> bytes:
    """The bytes a controller signs for ``op`` on ``did`` at ``version`` (0 for ``create``).

    Canonical CBOR of ``{domain, did, op, arg, version}``; ``arg`` is plain data (a key list, a
    service as a dict, or None).
    """
    return encoding.encode(
        {"domain": OPERATION_DOMAIN, "did": did, "op": op, "arg": arg, "version": version}
    )


def did_for_key(multikey: str) -> str:
    """The did:careledger identifier created from the initial key ``multikey``."""
    return METHOD_PREFIX + key_fingerprint(_ed25519(multikey))


def _ed25519(multikey: str) -> PublicKey:
    try:
        key = PublicKey.from_multikey(multikey)
    except InvalidDid as exc:
        raise InvalidInput(f"not an Ed25519 Multikey: {exc}") from exc
    if key.key_type is not KeyType.ED25519:
        raise InvalidInput("did:careledger keys must be Ed25519")
    return key


def _check_keys(keys: list[str]) -> None:
    if not 1 <= len(keys) <= MAX_KEYS:
        raise InvalidInput(f"a DID has between 1 and {MAX_KEYS} keys")
    if len(set(keys)) != len(keys):
        raise InvalidInput("duplicate key")
    for key in keys:
        _ed25519(key)


def _check_services(services: list[ServiceEndpoint]) -> None:
    if len(services) > MAX_SERVICES:
        raise InvalidInput(f"a DID has at most {MAX_SERVICES} services")
    ids = [s.id for s in services]
    if len(set(ids)) != len(ids):
        raise InvalidInput("duplicate service id")


def _signed_by(keys: list[str], payload: bytes, signature: bytes) -> bool:
    return any(verify(_ed25519(k).raw, payload, signature) for k in keys)


def _stamp(ms: int) -> str:
    # Calendar arithmetic on a proposal timestamp: deterministic, no clock.
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(record: DidRecord, block: int | None = None) -> dict[str, Any]:
    """A resolution answer: the DID document and its metadata (DID Core §7.1.3)."""
    document = render_did_json(
        record.did,
        [_ed25519(k) for k in record.keys],
        [{**msgspec.to_builtins(s), "id": record.did + s.id} for s in record.services],
    )
    metadata: dict[str, Any] = {
        "created": _stamp(record.created),
        "versionId": str(record.version),
    }
    if record.version > 1:
        metadata["updated"] = _stamp(record.updated)
    if record.deactivated:
        metadata["deactivated"] = True
    if block is not None:
        metadata["block"] = block
    return {"document": document, "metadata": metadata}


class Dids(Contract):
    name = NAMESPACE
    version = "1.0"
    schemas = {"did": DidRecord}

    def _current(self, stub: Stub, did: str) -> DidRecord:
        record: DidRecord | None = stub.get(f"did/{did}") if _DID_RE.match(did) else None
        if record is None:
            raise ContractError(f"{did} is not registered")
        if record.deactivated:
            raise ContractError(f"{did} is deactivated")
        return record

    def _authorise(self, record: DidRecord, op: str, arg: Any, signature: bytes) -> None:
        payload = operation_payload(record.did, op, arg, record.version)
        if not _signed_by(record.keys, payload, signature):
            raise ContractError(
                f"{op} on {record.did} is not signed by a current authentication key "
                f"(at version {record.version})"
            )

    def _write(self, stub: Stub, record: DidRecord, op: str) -> dict[str, Any]:
        stub.put(f"did/{record.did}", record)
        stub.emit(f"did.{op}", {"did": record.did, "version": record.version})
        return {"did": record.did, "version": record.version}

    @invoke
    def create(
        self, stub: Stub, key: str, services: list[ServiceEndpoint], signature: bytes
    ) -> dict[str, Any]:
        """Register the DID of ``key``; ``signature`` by ``key`` proves possession."""
        _check_keys([key])
        _check_services(services)
        did = did_for_key(key)
        if stub.get(f"did/{did}") is not None:
            raise ContractError(f"{did} already exists")
        arg = {"key": key, "services": [msgspec.to_builtins(s) for s in services]}
        if not _signed_by([key], operation_payload(did, "create", arg, 0), signature):
            raise ContractError(f"create of {did} is not signed by its initial key")
        record = DidRecord(
            did, 1, [key], list(services), False, stub.timestamp, stub.timestamp, stub.creator.org
        )
        return self._write(stub, record, "created")

    @invoke
    def rotate(self, stub: Stub, did: str, keys: list[str], signature: bytes) -> dict[str, Any]:
        """Replace the DID's keys (signed by a current key)."""
        record = self._current(stub, did)
        _check_keys(keys)
        self._authorise(record, "rotate", list(keys), signature)
        updated = msgspec.structs.replace(
            record, version=record.version + 1, keys=list(keys), updated=stub.timestamp
        )
        return self._write(stub, updated, "rotated")

    @invoke
    def add_service(
        self, stub: Stub, did: str, service: ServiceEndpoint, signature: bytes
    ) -> dict[str, Any]:
        """Add a service endpoint (signed by a current key)."""
        record = self._current(stub, did)
        if any(s.id == service.id for s in record.services):
            raise ContractError(f"service {service.id} already exists on {did}")
        services = [*record.services, service]
        _check_services(services)
        self._authorise(record, "add_service", msgspec.to_builtins(service), signature)
        updated = msgspec.structs.replace(
            record, version=record.version + 1, services=services, updated=stub.timestamp
        )
        return self._write(stub, updated, "service_added")

    @invoke
    def deactivate(self, stub: Stub, did: str, signature: bytes) -> dict[str, Any]:
        """Deactivate the DID for good (signed by a current key)."""
        record = self._current(stub, did)
        self._authorise(record, "deactivate", None, signature)
        updated = msgspec.structs.replace(
            record, version=record.version + 1, deactivated=True, updated=stub.timestamp
        )
        return self._write(stub, updated, "deactivated")

    @query
    def resolve(
        self, stub: Stub, did: str, version_id: str | None, at_block: int | None
    ) -> dict[str, Any] | None:
        """The document now, at ``version_id``, or as it stood after block ``at_block``.

        Returns ``{"document", "metadata"}`` or None when there is no such DID (or version).
        """
        if not _DID_RE.match(did):
            raise InvalidInput(f"not a did:careledger DID: {did[:80]!r}")
        if version_id is None and at_block is None:
            current: DidRecord | None = stub.get(f"did/{did}")
            return None if current is None else render(current)
        chosen: tuple[int, DidRecord] | None = None
        for (block, _tx), value in stub.history(f"did/{did}"):
            if value is None:
                continue
            if version_id is not None and str(value.version) == version_id:
                chosen = (block, value)
                break
            if version_id is None and at_block is not None and block <= at_block:
                chosen = (block, value)
        return None if chosen is None else render(chosen[1], chosen[0])
