"""Offline JSON-LD document loader: the contexts in ``credentials/contexts/`` and nothing else.

Verification must never reach the network (an attacker-controlled context changes what a
signature means), so an unknown URL raises :class:`UnknownContext` instead of being fetched.
Two kinds of other URL name a shipped file: an alias registered with :func:`alias_context` (an
organisation serving the health context under its own host), and a content-addressed URL ending
in ``/sha256-<hex>.jsonld`` whose hex is the SHA-256 of a shipped file's bytes — the name proves
the content, so the host does not matter.
Parsed contexts are cached for the life of the process. Not a general JSON-LD processor: expansion
and canonicalization live in :mod:`careledger.credentials.canonical`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from careledger.credentials.errors import UnknownContext

CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
CREDENTIALS_V1 = "https://www.w3.org/2018/credentials/v1"
EXAMPLES_V2 = "https://www.w3.org/ns/credentials/examples/v2"
DATA_INTEGRITY_V2 = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"
ED25519_2020_V1 = "https://w3id.org/security/suites/ed25519-2020/v1"
HEALTH_V1 = "https://careledger.dev/contexts/health/v1"

_SHIPPED: dict[str, str] = {
    CREDENTIALS_V2: "credentials-v2.jsonld",
    CREDENTIALS_V1: "credentials-v1.jsonld",
    "https://www.w3.org/ns/credentials/undefined-terms/v2": "credentials-undefined-terms-v2.jsonld",
    EXAMPLES_V2: "credentials-examples-v2.jsonld",
    DATA_INTEGRITY_V2: "data-integrity-v2.jsonld",
    "https://w3id.org/security/data-integrity/v1": "data-integrity-v1.jsonld",
    MULTIKEY_V1: "multikey-v1.jsonld",
    ED25519_2020_V1: "ed25519-signature-2020-v1.jsonld",
    "https://www.w3.org/ns/credentials/status/v1": "vc-bitstring-status-list-v1.jsonld",
    "https://www.w3.org/ns/did/v1": "did-v1.jsonld",
    HEALTH_V1: "careledger-health-v1.jsonld",
}
_REGISTERED: dict[str, dict[str, Any]] = {}
_ALIASES: dict[str, str] = {}
_CONTENT_ADDRESSED = re.compile(r"^https?://[^?#]+/sha256-([0-9a-f]{64})\.jsonld$")


def register_context(url: str, document: Mapping[str, Any]) -> None:
    """Make an extra context available offline (a credential-type plugin's vocabulary).

    A URL already shipped cannot be replaced: contexts are immutable once published.
    """
    if url in _SHIPPED or url in _ALIASES or (url in _REGISTERED and _REGISTERED[url] != document):
        raise UnknownContext(f"context {url} is already defined and cannot be replaced")
    if "@context" not in document:
        raise UnknownContext(f"context document for {url} has no @context")
    _REGISTERED[url] = dict(document)
    _context_value.cache_clear()


def known_contexts() -> list[str]:
    """Every context URL the loader can serve (content-addressed URLs aside)."""
    return sorted([*_SHIPPED, *_REGISTERED, *_ALIASES])


@lru_cache(maxsize=64)
def shipped_bytes(url: str) -> bytes:
    """The exact bytes of the shipped file for ``url`` (what a node serves and verifiers hash)."""
    if url not in _SHIPPED:
        raise UnknownContext(f"{url} is not a context shipped with CareLedger")
    return (
        resources.files("careledger.credentials")
        .joinpath("contexts")
        .joinpath(_SHIPPED[url])
        .read_bytes()
    )


@lru_cache(maxsize=64)
def shipped_sha256(url: str) -> str:
    """Hex SHA-256 of the shipped file for ``url``: the name of its content-addressed URL."""
    return hashlib.sha256(shipped_bytes(url)).hexdigest()


def alias_context(url: str, shipped_url: str, sha256: str | None = None) -> None:
    """Serve the shipped context ``shipped_url`` under ``url`` too (an organisation's own copy).

    ``sha256`` (hex), when given, must be the digest of the bytes found at ``url`` — the caller
    fetched them once — and must equal the shipped file's: an alias never changes meaning.
    """
    if url in _SHIPPED or url in _REGISTERED:
        if url == shipped_url:
            return
        raise UnknownContext(f"context {url} is already defined and cannot be replaced")
    if sha256 is not None and sha256.lower() != shipped_sha256(shipped_url):
        raise UnknownContext(
            f"the document at {url} (sha256 {sha256}) is not the shipped {shipped_url} "
            f"(sha256 {shipped_sha256(shipped_url)})"
        )
    if _ALIASES.get(url, shipped_url) != shipped_url:
        raise UnknownContext(f"context {url} already aliases {_ALIASES[url]}")
    shipped_bytes(shipped_url)  # raises for a URL that is not shipped
    _ALIASES[url] = shipped_url


def _shipped_url_for(url: str) -> str | None:
    if url in _SHIPPED:
        return url
    if url in _ALIASES:
        return _ALIASES[url]
    named = _CONTENT_ADDRESSED.match(url)
    if named is not None:
        for shipped in _SHIPPED:
            if shipped_sha256(shipped) == named.group(1):
                return shipped
    return None


@lru_cache(maxsize=64)
def _shipped_document(url: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(shipped_bytes(url))
    return document


def load_document(url: str) -> dict[str, Any]:
    """The context document at ``url``; raises :class:`UnknownContext` for anything not shipped."""
    shipped = _shipped_url_for(url)
    if shipped is not None:
        return _shipped_document(shipped)
    if url in _REGISTERED:
        return _REGISTERED[url]
    raise UnknownContext(
        f"JSON-LD context {url!r} is not shipped with CareLedger and is never fetched; "
        "register it with careledger.credentials.document_loader.register_context"
    )


@lru_cache(maxsize=256)
def _context_value(url: str) -> Any:
    return load_document(url)["@context"]


def inline_contexts(context: Any) -> list[Any]:
    """The ``@context`` value with every URL replaced by the shipped context it names."""
    items = context if isinstance(context, list) else [context]
    return [_context_value(item) if isinstance(item, str) else item for item in items]


def pyld_loader(url: str, options: Any = None) -> dict[str, Any]:
    """A pyld ``documentLoader`` over the shipped contexts (never the network)."""
    return {"contextUrl": None, "documentUrl": url, "document": load_document(url)}


def _walk_terms(context: Any) -> Iterator[tuple[str, bool]]:
    """(term, is_vocab) for every term defined in ``context`` and its scoped contexts."""
    items = context if isinstance(context, list) else [context]
    for item in items:
        if isinstance(item, str):
            yield from _walk_terms(_context_value(item))
        elif isinstance(item, Mapping):
            for term, definition in item.items():
                if term == "@vocab":
                    yield term, True
                elif not term.startswith("@"):
                    yield term, False
                if isinstance(definition, Mapping) and "@context" in definition:
                    yield from _walk_terms(definition["@context"])


@lru_cache(maxsize=256)
def _defined_terms_for(urls: tuple[str, ...]) -> tuple[frozenset[str], bool]:
    terms: set[str] = set()
    has_vocab = False
    for term, is_vocab in _walk_terms(list(urls)):
        has_vocab = has_vocab or is_vocab
        terms.add(term)
    return frozenset(terms), has_vocab


def defined_terms(context: Any) -> tuple[frozenset[str], bool]:
    """Every term any of these contexts (or their scoped contexts) defines, and whether a
    ``@vocab`` is in play. Used by the fast undefined-term guard."""
    items = context if isinstance(context, list) else [context]
    urls = tuple(i for i in items if isinstance(i, str))
    terms, has_vocab = _defined_terms_for(urls)
    inline = [i for i in items if not isinstance(i, str)]
    if inline:
        extra = list(_walk_terms(inline))
        terms = terms | {t for t, _ in extra}
        has_vocab = has_vocab or any(v for _, v in extra)
    return terms, has_vocab
