"""One DID resolver for CareLedger: method drivers registered by name, a TTL cache, and the
verification-method lookup verifiers need.

Not a method driver itself: did:key, did:web and did:careledger live in their own modules and are
registered here the same way a third-party method would be.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from careledger.identity.did.base import (
    DidDocument,
    DidMethod,
    ResolutionError,
    ResolutionOptions,
    ResolutionResult,
    VerificationMethod,
)
from careledger.identity.did.errors import InvalidDid

# DID Core §3.1 syntax: did:<method-name>:<method-specific-id>
_DID_RE = re.compile(
    r"^did:([a-z0-9]+):((?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2}|:)*(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2}))$"
)
_DEFAULT_OPTIONS = ResolutionOptions()


@dataclass(frozen=True)
class MethodLookup:
    """The outcome of looking up a verification method for a purpose."""

    method: VerificationMethod | None
    error: str = ""


class DidResolver:
    """Resolves DIDs through registered :class:`DidMethod` drivers, with a TTL cache.

    Only successful resolutions are cached; ``ResolutionOptions(no_cache=True)`` bypasses the cache.
    Non-DID controller documents (e.g. an HTTPS issuer id) can be pinned with
    :meth:`add_controller_document`.
    """

    def __init__(
        self,
        methods: list[DidMethod] | None = None,
        cache_ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._methods: dict[str, DidMethod] = {}
        self._cache: dict[tuple[str, str | None], tuple[float, ResolutionResult]] = {}
        self._pinned: dict[str, DidDocument] = {}
        self._ttl = cache_ttl
        self._clock = clock
        for method in methods or []:
            self.register(method)

    def register(self, method: DidMethod) -> None:
        """Add (or replace) the driver for ``method.method``."""
        self._methods[method.method] = method
        self._cache = {
            k: v for k, v in self._cache.items() if not k[0].startswith(f"did:{method.method}:")
        }

    def add_controller_document(self, document: dict[str, Any]) -> None:
        """Pin a controller document by its ``id`` (for issuers identified by a URL, not a DID)."""
        doc = DidDocument(document)
        self._pinned[doc.id] = doc

    def invalidate(self, did: str) -> None:
        """Drop cached results for ``did`` (call after a registry update)."""
        self._cache = {k: v for k, v in self._cache.items() if k[0] != did}

    def resolve(self, did: str, options: ResolutionOptions = _DEFAULT_OPTIONS) -> ResolutionResult:
        """Resolve ``did``; errors are reported in the result, never raised."""
        if did in self._pinned:
            return ResolutionResult(did_document=self._pinned[did])
        match = _DID_RE.match(did)
        if match is None:
            return ResolutionResult.failure(ResolutionError.INVALID_DID, f"not a DID: {did[:80]!r}")
        driver = self._methods.get(match.group(1))
        if driver is None:
            return ResolutionResult.failure(
                ResolutionError.METHOD_NOT_SUPPORTED, f"did:{match.group(1)} is not supported"
            )
        key = (did, options.version_id)
        now = self._clock()
        if not options.no_cache:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        result = driver.resolve(did, options)
        if result.error is None and self._ttl > 0:
            self._cache[key] = (now + self._ttl, result)
        return result

    def authorised_methods(self, did: str, relationship: str) -> tuple[tuple[str, ...], str]:
        """(absolute ids of the methods ``did`` lists under ``relationship``, error text).

        The error text is empty unless the DID cannot be resolved or is deactivated; a verifier
        uses this to pick the key of a JWT that names none (SD-JWT without ``kid``).
        """
        result = self.resolve(did)
        if result.error is not None or result.did_document is None:
            code = result.error.value if result.error else "notFound"
            return (), f"cannot resolve {did}: {code} {result.message}".strip()
        if result.document_metadata.deactivated:
            return (), f"{did} is deactivated"
        doc = result.did_document
        ids: list[str] = []
        for ref in doc.data.get(relationship, ()):
            ref_id = ref if isinstance(ref, str) else ref.get("id", "")
            absolute = did + ref_id if str(ref_id).startswith("#") else str(ref_id)
            if absolute and absolute not in ids:
                ids.append(absolute)
        return tuple(ids), ""

    def verification_method(self, method_id: str, relationship: str) -> MethodLookup:
        """Resolve the controller of ``method_id`` and check it is authorised for ``relationship``.

        ``relationship`` is a DID Core verification relationship such as ``assertionMethod`` or
        ``authentication``. Failures come back as readable text in ``MethodLookup.error``.
        """
        controller = method_id.split("#", 1)[0]
        result = self.resolve(controller)
        if result.error is not None or result.did_document is None:
            code = result.error.value if result.error else "notFound"
            return MethodLookup(
                None, f"cannot resolve {controller}: {code} {result.message}".strip()
            )
        if result.document_metadata.deactivated:
            return MethodLookup(None, f"{controller} is deactivated")
        doc = result.did_document
        try:
            method = doc.verification_method(method_id)
        except InvalidDid as exc:
            return MethodLookup(None, str(exc))
        if method is None:
            return MethodLookup(None, f"{method_id} is not in the DID document of {controller}")
        if not doc.has_relationship(relationship, method_id):
            return MethodLookup(None, f"{method_id} is not authorised for {relationship}")
        return MethodLookup(method)
