"""The did:careledger method: DIDs anchored on the consortium ledger.

The ledger's ``dids`` contract will store these documents; until then :class:`InMemoryDidRegistry`
holds them with the same operations and rules, so code written against it keeps working:

* ``create`` from an initial Ed25519 key: ``did:careledger:<fingerprint of the initial key>``;
* every later operation (rotate keys, add a service, deactivate) is signed by a current
  authentication key of the DID — the registry verifies the signature over the JCS of the operation;
* every change is a new version; ``resolve`` with ``version_id`` returns the document as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785

from careledger.identity.did.base import (
    DidDocument,
    DocumentMetadata,
    ResolutionError,
    ResolutionOptions,
    ResolutionResult,
)
from careledger.identity.did.errors import DidOperationError
from careledger.identity.did.keys import Ed25519Signer, PublicKey, key_fingerprint
from careledger.identity.did.web_method import render_did_json

METHOD_PREFIX = "did:careledger:"


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Version:
    document: dict[str, Any]
    metadata: DocumentMetadata


class InMemoryDidRegistry:
    """did:careledger registry and resolver driver kept in memory (tests, embedded network)."""

    method = "careledger"

    def __init__(self, clock: Callable[[], datetime] = _now) -> None:
        self._clock = clock
        self._history: dict[str, list[_Version]] = {}

    def create(self, key: PublicKey, services: list[dict[str, Any]] | None = None) -> str:
        """Register a new DID controlled by ``key``; returns the DID."""
        did = METHOD_PREFIX + key_fingerprint(key)
        if did in self._history:
            raise DidOperationError(f"{did} already exists")
        stamp = _stamp(self._clock())
        doc = render_did_json(did, [key], services or [])
        self._history[did] = [_Version(doc, DocumentMetadata(created=stamp, version_id="1"))]
        return did

    def rotate_keys(self, did: str, new_keys: list[PublicKey], signer: Ed25519Signer) -> str:
        """Replace the DID's keys with ``new_keys``; returns the new version id."""
        if not new_keys:
            raise DidOperationError("a DID needs at least one key")
        current = self._authorise(did, "rotate", [k.multikey for k in new_keys], signer)
        doc = render_did_json(did, new_keys, current.document.get("service", []))
        return self._append(did, doc)

    def add_service(self, did: str, service: dict[str, Any], signer: Ed25519Signer) -> str:
        """Add a service endpoint; returns the new version id."""
        if not {"id", "type", "serviceEndpoint"} <= service.keys():
            raise DidOperationError("a service needs id, type and serviceEndpoint")
        current = self._authorise(did, "add-service", service, signer)
        doc = copy.deepcopy(current.document)
        sid = service["id"] if not str(service["id"]).startswith("#") else did + service["id"]
        if any(s.get("id") == sid for s in doc.get("service", [])):
            raise DidOperationError(f"service {sid} already exists")
        doc.setdefault("service", []).append({**service, "id": sid})
        return self._append(did, doc)

    def deactivate(self, did: str, signer: Ed25519Signer) -> str:
        """Deactivate the DID for good; returns the final version id."""
        current = self._authorise(did, "deactivate", None, signer)
        return self._append(did, copy.deepcopy(current.document), deactivated=True)

    def resolve(self, did: str, options: ResolutionOptions) -> ResolutionResult:
        """The latest document, or the one at ``options.version_id``."""
        versions = self._history.get(did)
        if versions is None:
            return ResolutionResult.failure(ResolutionError.NOT_FOUND, f"{did} is not registered")
        chosen = versions[-1]
        if options.version_id is not None:
            match = [v for v in versions if v.metadata.version_id == options.version_id]
            if not match:
                return ResolutionResult.failure(
                    ResolutionError.NOT_FOUND, f"{did} has no version {options.version_id}"
                )
            chosen = match[0]
        return ResolutionResult(
            did_document=DidDocument(copy.deepcopy(chosen.document)),
            document_metadata=chosen.metadata,
        )

    def _authorise(self, did: str, op: str, arg: Any, signer: Ed25519Signer) -> _Version:
        versions = self._history.get(did)
        if versions is None:
            raise DidOperationError(f"{did} is not registered")
        current = versions[-1]
        if current.metadata.deactivated:
            raise DidOperationError(f"{did} is deactivated")
        document = DidDocument(current.document)
        authorised = any(
            (vm := document.verification_method(ref)) is not None
            and vm.public_key == signer.public_key
            for ref in current.document.get("authentication", [])
        )
        payload = rfc8785.dumps(
            {"did": did, "op": op, "arg": arg, "version": current.metadata.version_id}
        )
        # The contract will receive (payload, signature) from the client; verify the same way.
        if not authorised or not signer.public_key.verify(payload, signer.sign(payload)):
            raise DidOperationError(f"{op} on {did} is not signed by a current authentication key")
        return current

    def _append(self, did: str, doc: dict[str, Any], deactivated: bool = False) -> str:
        versions = self._history[did]
        version_id = str(len(versions) + 1)
        meta = DocumentMetadata(
            created=versions[0].metadata.created,
            updated=_stamp(self._clock()),
            version_id=version_id,
            deactivated=deactivated,
        )
        versions.append(_Version(doc, meta))
        return version_id
