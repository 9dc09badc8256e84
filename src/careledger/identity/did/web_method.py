"""The did:web method (W3C CCG did:web): a DID document served over HTTPS at a well-known path.

Builds the URL per the spec, fetches through an injected :class:`DocumentFetcher` (so tests and
nodes without network access work), checks that the document's ``id`` matches the DID, and renders
an organisation's ``did.json`` so a CareLedger node can serve it.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from typing import Any

from careledger.identity.did.base import (
    DidDocument,
    DocumentFetcher,
    ResolutionError,
    ResolutionOptions,
    ResolutionResult,
)
from careledger.identity.did.errors import InvalidDid
from careledger.identity.did.key_method import DID_CONTEXT, MULTIKEY_CONTEXT
from careledger.identity.did.keys import PublicKey


def did_web_url(did: str) -> str:
    """The HTTPS URL of the ``did.json`` for a did:web DID.

    ``did:web:example.com`` → ``https://example.com/.well-known/did.json``;
    ``did:web:example.com%3A8443:org:a`` → ``https://example.com:8443/org/a/did.json``.
    """
    if not did.startswith("did:web:"):
        raise InvalidDid("not a did:web DID")
    parts = did[len("did:web:") :].split(":")
    if not parts[0] or any(not p for p in parts):
        raise InvalidDid("did:web needs a domain and non-empty path segments")
    host = urllib.parse.unquote(parts[0])
    if "/" in host or "@" in host or " " in host:
        raise InvalidDid("did:web domain is not a host name")
    path = "/".join(urllib.parse.unquote(p) for p in parts[1:])
    return f"https://{host}/{path}/did.json" if path else f"https://{host}/.well-known/did.json"


def did_web_for(host: str, *path: str) -> str:
    """The did:web DID for ``host`` (may include ``:port``) and optional path segments."""
    segments = [urllib.parse.quote(host, safe="")] + [urllib.parse.quote(p, safe="") for p in path]
    return "did:web:" + ":".join(segments)


def render_did_json(
    did: str,
    keys: Sequence[PublicKey],
    services: Sequence[dict[str, Any]] = (),
    also_known_as: Sequence[str] = (),
) -> dict[str, Any]:
    """An organisation's did:web document, ready to serve as ``did.json``.

    Each key becomes a Multikey verification method ``#key-N`` listed under authentication and
    assertionMethod; services are copied as given (each has ``id``, ``type``, ``serviceEndpoint``).
    """
    if not keys:
        raise InvalidDid("a DID document needs at least one key")
    methods = [
        {
            "id": f"{did}#key-{i}",
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": key.multikey,
        }
        for i, key in enumerate(keys, start=1)
    ]
    ids = [m["id"] for m in methods]
    doc: dict[str, Any] = {
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": methods,
        "authentication": ids,
        "assertionMethod": ids,
    }
    if also_known_as:
        doc["alsoKnownAs"] = list(also_known_as)
    if services:
        doc["service"] = [dict(s) for s in services]
    return doc


class DidWebMethod:
    """Driver for ``did:web`` over an injected fetcher."""

    method = "web"

    def __init__(self, fetcher: DocumentFetcher) -> None:
        self._fetcher = fetcher

    def resolve(self, did: str, options: ResolutionOptions) -> ResolutionResult:
        """Fetch and check the did.json."""
        try:
            url = did_web_url(did)
        except InvalidDid as exc:
            return ResolutionResult.failure(ResolutionError.INVALID_DID, str(exc))
        try:
            body = self._fetcher.fetch(url)
        except OSError as exc:
            return ResolutionResult.failure(ResolutionError.INTERNAL_ERROR, f"fetch {url}: {exc}")
        if body is None:
            return ResolutionResult.failure(ResolutionError.NOT_FOUND, f"no did.json at {url}")
        try:
            data = json.loads(body)
        except ValueError:
            return ResolutionResult.failure(ResolutionError.INVALID_DID, f"{url} is not JSON")
        if not isinstance(data, dict) or data.get("id") != did:
            return ResolutionResult.failure(
                ResolutionError.INVALID_DID, "document id does not match the DID"
            )
        return ResolutionResult(did_document=DidDocument(data))


class StaticFetcher:
    """An in-memory :class:`DocumentFetcher` (tests, and nodes that serve their own documents)."""

    def __init__(self, documents: dict[str, Any] | None = None) -> None:
        self.documents: dict[str, bytes] = {}
        for url, doc in (documents or {}).items():
            self.put(url, doc)

    def put(self, url: str, document: Any) -> None:
        """Serve ``document`` (JSON value or bytes) at ``url``."""
        self.documents[url] = (
            document if isinstance(document, bytes) else json.dumps(document).encode()
        )

    def fetch(self, url: str) -> bytes | None:
        """The document at ``url``, or None."""
        return self.documents.get(url)
