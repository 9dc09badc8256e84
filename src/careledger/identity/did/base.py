"""Extension points and values of DID resolution (W3C DID Core §7.1, DID Resolution).

``DidMethod`` is what a method driver implements (did:key, did:web, did:careledger …);
``DocumentFetcher`` is how did:web reaches the network, so tests and offline nodes inject their own.
Resolution failures are values (``ResolutionResult.error``), never exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from careledger.identity.did.errors import InvalidDid
from careledger.identity.did.keys import PublicKey


class ResolutionError(StrEnum):
    """DID Core resolution metadata ``error`` values."""

    INVALID_DID = "invalidDid"
    NOT_FOUND = "notFound"
    METHOD_NOT_SUPPORTED = "methodNotSupported"
    REPRESENTATION_NOT_SUPPORTED = "representationNotSupported"
    INTERNAL_ERROR = "internalError"


@dataclass(frozen=True)
class ResolutionOptions:
    """Resolution options; ``version_id`` asks a method that keeps history for an older version."""

    accept: str = "application/did+json"
    version_id: str | None = None
    no_cache: bool = False


@dataclass(frozen=True)
class DocumentMetadata:
    """DID document metadata (DID Core §7.1.3)."""

    created: str | None = None
    updated: str | None = None
    version_id: str | None = None
    deactivated: bool = False

    def to_json(self) -> dict[str, Any]:
        """The metadata as DID Core JSON."""
        out: dict[str, Any] = {}
        if self.created:
            out["created"] = self.created
        if self.updated:
            out["updated"] = self.updated
        if self.version_id:
            out["versionId"] = self.version_id
        if self.deactivated:
            out["deactivated"] = True
        return out


@dataclass(frozen=True)
class VerificationMethod:
    """One verification method of a DID document, with its key decoded."""

    id: str
    type: str
    controller: str
    public_key: PublicKey


@dataclass(frozen=True)
class DidDocument:
    """A DID document: the JSON as published plus lookups a verifier needs.

    The JSON stays the source of truth (DID documents are open-world: extensions are kept as is).
    """

    data: Mapping[str, Any]

    @property
    def id(self) -> str:
        """The DID the document describes."""
        value = self.data.get("id")
        if not isinstance(value, str):
            raise InvalidDid("DID document has no id")
        return value

    def _absolute(self, ref: str) -> str:
        return self.id + ref if ref.startswith("#") else ref

    def verification_method(self, method_id: str) -> VerificationMethod | None:
        """The verification method with ``method_id`` (absolute or ``#fragment``), if present."""
        wanted = self._absolute(method_id)
        for entry in self._methods():
            if self._absolute(str(entry.get("id", ""))) == wanted:
                return _decode_method(entry, self.id)
        return None

    def has_relationship(self, relationship: str, method_id: str) -> bool:
        """True when ``method_id`` is listed under ``relationship`` (e.g. ``assertionMethod``)."""
        wanted = self._absolute(method_id)
        for ref in self.data.get(relationship, ()):
            ref_id = ref if isinstance(ref, str) else ref.get("id", "")
            if self._absolute(str(ref_id)) == wanted:
                return True
        return False

    def services(self) -> list[Mapping[str, Any]]:
        """The ``service`` entries."""
        return list(self.data.get("service", ()))

    def _methods(self) -> list[Mapping[str, Any]]:
        methods = list(self.data.get("verificationMethod", ()))
        for rel in (
            "authentication",
            "assertionMethod",
            "keyAgreement",
            "capabilityInvocation",
            "capabilityDelegation",
        ):
            methods.extend(m for m in self.data.get(rel, ()) if isinstance(m, Mapping))
        return methods


def _decode_method(entry: Mapping[str, Any], did: str) -> VerificationMethod:
    kind = str(entry.get("type", ""))
    if "publicKeyMultibase" in entry:
        key = PublicKey.from_multikey(str(entry["publicKeyMultibase"]))
    elif "publicKeyJwk" in entry:
        key = _key_from_jwk(entry["publicKeyJwk"])
    else:
        raise InvalidDid(f"verification method {entry.get('id')} has no supported key material")
    return VerificationMethod(
        id=str(entry["id"]) if not str(entry["id"]).startswith("#") else did + str(entry["id"]),
        type=kind,
        controller=str(entry.get("controller", did)),
        public_key=key,
    )


def _key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    # Local import: keeps the JWK helpers (and their cryptography imports) off the hot path.
    from careledger.identity.did.jwk import public_key_from_jwk

    return public_key_from_jwk(jwk)


@dataclass(frozen=True)
class ResolutionResult:
    """What resolving a DID returns (DID Core §7.1): document, resolution and document metadata."""

    did_document: DidDocument | None
    document_metadata: DocumentMetadata = field(default_factory=DocumentMetadata)
    error: ResolutionError | None = None
    content_type: str = "application/did+json"
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when a document was found and is not deactivated."""
        return (
            self.error is None
            and self.did_document is not None
            and not self.document_metadata.deactivated
        )

    def resolution_metadata(self) -> dict[str, Any]:
        """DID resolution metadata as JSON."""
        if self.error is not None:
            return {
                "error": self.error.value,
                **({"message": self.message} if self.message else {}),
            }
        return {"contentType": self.content_type}

    @classmethod
    def failure(cls, error: ResolutionError, message: str = "") -> ResolutionResult:
        """A result carrying only an error."""
        return cls(did_document=None, error=error, message=message)


class DidMethod(Protocol):
    """A DID method driver.

    ``resolve`` never raises for a DID it cannot find or parse: it returns a result whose ``error``
    is ``notFound`` or ``invalidDid``. It raises only for faults (a broken store). A deactivated DID
    resolves with ``document_metadata.deactivated`` set.

    Example::

        resolver.register("key", DidKeyMethod())
    """

    method: str

    def resolve(self, did: str, options: ResolutionOptions) -> ResolutionResult:
        """Resolve ``did`` (already checked to start with ``did:<method>:``)."""
        ...


class DocumentFetcher(Protocol):
    """Fetches a did:web ``did.json`` by HTTPS URL.

    Returns the body bytes, or ``None`` when the server answered 404. Raises ``OSError`` for a
    network fault, which the resolver reports as ``internalError``.
    """

    def fetch(self, url: str) -> bytes | None:
        """The body at ``url`` or ``None`` when it does not exist."""
        ...
