"""Publishing CareLedger's health JSON-LD context so that other verifiers can load it.

Credentials of the health types name a context URL; verifiers with strict document loaders
(ACA-Py, Digital Bazaar) refuse a context they cannot obtain. Every node therefore serves the
shipped file (see :mod:`careledger.api.contexts`) at two paths under its own host:

* :data:`VERSIONED_PATH` (``/contexts/health/v1``) — the version an issuer names;
* :func:`content_addressed_path` (``/contexts/sha256-<hex>.jsonld``) — immutable: the name is
  the SHA-256 of the bytes, so a verifier can check what it loaded and cache it for ever.

An issuing organisation may name a URL it controls (node setting
``[credentials] health_context_url``); :func:`accept_health_context_url` makes CareLedger's own
offline loader map that URL to the shipped file. The default stays :data:`DEFAULT_URL` so that
credentials issued before remain verifiable.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from careledger.credentials.document_loader import (
    HEALTH_V1,
    alias_context,
    shipped_bytes,
    shipped_sha256,
)
from careledger.errors import InvalidInput

DEFAULT_URL = HEALTH_V1
VERSIONED_PATH = "/contexts/health/v1"
MEDIA_TYPE = "application/ld+json"
#: A year, and never revalidated: the bytes behind a context URL never change.
CACHE_CONTROL = "public, max-age=31536000, immutable"


def health_context_bytes() -> bytes:
    """The exact bytes of the shipped health context (what nodes serve)."""
    return shipped_bytes(HEALTH_V1)


def health_context_sha256() -> str:
    """Hex SHA-256 of :func:`health_context_bytes`."""
    return shipped_sha256(HEALTH_V1)


def content_addressed_path() -> str:
    """The immutable path of the health context on a node: ``/contexts/sha256-<hex>.jsonld``."""
    return f"/contexts/sha256-{health_context_sha256()}.jsonld"


def etag() -> str:
    """The strong ETag of the served context (its digest)."""
    return f'"sha256-{health_context_sha256()}"'


def node_context_urls(base_url: str) -> tuple[str, str]:
    """(versioned URL, content-addressed URL) of the context served by the node at ``base_url``."""
    base = base_url.rstrip("/")
    return base + VERSIONED_PATH, base + content_addressed_path()


def validate_context_url(url: str, label: str = "health context URL") -> str:
    """``url`` if it can name a context: ``https``, or ``http`` on a loopback host (tests and
    local demos); no credentials, query or fragment. :class:`InvalidInput` otherwise."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"{label} {url!r}: {exc}") from exc
    if not host or parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidInput(
            f"{label} {url!r}: an absolute URL with a host and no user, query or fragment"
        )
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and _is_loopback(host):
        return url
    raise InvalidInput(f"{label} {url!r}: https (http only on a loopback host)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def accept_health_context_url(url: str, sha256: str | None = None) -> str:
    """Let CareLedger's offline loader serve the shipped health context under ``url``.

    ``sha256`` — the digest of the bytes actually found at ``url``, when the caller fetched them —
    must match the shipped file. Returns ``url``; :class:`InvalidInput` for a bad URL or digest, or
    a URL already standing for another context.
    """
    validate_context_url(url)
    if url == DEFAULT_URL:
        return url
    alias_context(url, HEALTH_V1, sha256)  # UnknownContext (an InvalidInput) if refused
    return url
