"""Canonical forms that Data Integrity proofs sign: RDFC-1.0 N-Quads and JCS (RFC 8785).

RDFC-1.0 is done by pyoxigraph (Rust): the JSON-LD is parsed with the shipped contexts inlined (so
nothing is fetched), canonicalized with ``CanonicalizationAlgorithm.RDFC_1_0`` and serialized as
sorted N-Quads. The document and its proof configuration share one ``@context``, so both are
parsed in one pass as two named graphs, which halves the context processing. JCS is the
``rfc8785`` package, with the standard library's JSON encoder for plain data (see :func:`jcs`).
Not for signing: see :mod:`careledger.credentials.data_integrity`.

JSON-LD silently drops properties no context defines, which would leave them unsigned. Two guards:
:func:`undefined_terms` (fast, used on every verify: a key defined by *no* context in play and no
``@vocab``) and :func:`dropped_terms_exact` (pyld expansion, used at issuance and on request).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import pyoxigraph as ox
import rfc8785

from careledger.credentials.document_loader import defined_terms, inline_contexts, pyld_loader
from careledger.credentials.errors import CredentialFormatError

_DOC_GRAPH = "urn:careledger:c14n:document"
_PROOF_GRAPH = "urn:careledger:c14n:proof"
_KEYWORDS = frozenset(
    {
        "@id",
        "@type",
        "@value",
        "@language",
        "@direction",
        "@list",
        "@set",
        "@graph",
        "@index",
        "@included",
        "@reverse",
        "@nest",
        "@json",
        "@none",
        "@context",
    }
)


_JSON_SAFE_INT = 2**53 - 1


def _json_is_jcs(value: Any) -> bool:
    """Whether the standard library's sorted, compact JSON of ``value`` is its RFC 8785 form:
    only dicts with ASCII text keys (so code-point order is UTF-16 order), lists, text, bools,
    None and integers within ±(2**53 - 1). The escapes of both are the same (``\\b \\f \\n
    \\r \\t``, ``\\u00xx`` for other control characters, nothing else escaped)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_JSON_SAFE_INT <= value <= _JSON_SAFE_INT)
    if kind is list:
        return all(_json_is_jcs(item) for item in value)
    if kind is dict:
        return all(
            type(key) is str and key.isascii() and _json_is_jcs(item) for key, item in value.items()
        )
    return False


def jcs(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes of ``value``.

    Plain JSON data (the common case: credentials, proof configurations) is serialised by the
    standard library's C encoder, 10 to 20 times faster than the ``rfc8785`` package and byte for
    byte the same (tests/credentials/test_cred_jcs.py checks the two agree on generated data);
    anything else — floats, non-ASCII keys, big integers, other types — goes to ``rfc8785``.
    """
    if _json_is_jcs(value):
        try:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 refuses it with its own message
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CredentialFormatError(f"cannot canonicalize as JCS: {exc}") from exc


def _nquads(quads: list[ox.Quad]) -> str:
    dataset = ox.Dataset(quads)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    text = ox.serialize(dataset, format=ox.RdfFormat.N_QUADS) or b""
    lines = text.decode("utf-8").splitlines(True)
    lines.sort()
    return "".join(lines)


def _parse(body: bytes) -> list[ox.Quad]:
    try:
        return list(ox.parse(body, format=ox.RdfFormat.JSON_LD))
    except (SyntaxError, ValueError) as exc:
        raise CredentialFormatError(f"not valid JSON-LD: {exc}") from exc


@lru_cache(maxsize=128)
def _inlined_context_json(urls: tuple[str, ...]) -> str:
    return json.dumps(inline_contexts(list(urls)))


def _context_json(context: Any) -> str:
    """The inlined ``@context`` as JSON text; cached when it is only URLs (the common case)."""
    items = context if isinstance(context, list) else [context]
    if all(isinstance(i, str) for i in items):
        return _inlined_context_json(tuple(items))
    return json.dumps(inline_contexts(items))


def _with_context(context: Any, body: Mapping[str, Any]) -> bytes:
    rest = json.dumps(body)
    middle = "" if rest == "{}" else "," + rest[1:-1]
    return ('{"@context":' + _context_json(context) + middle + "}").encode("utf-8")


def rdfc(document: Mapping[str, Any]) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document (contexts from the offline loader)."""
    if "@context" not in document:
        raise CredentialFormatError("JSON-LD document has no @context")
    body = {k: v for k, v in document.items() if k != "@context"}
    return _nquads(_parse(_with_context(document["@context"], body)))


def rdfc_pair(document: Mapping[str, Any], proof_config: Mapping[str, Any]) -> tuple[str, str]:
    """Canonical N-Quads of ``document`` and of ``proof_config`` (which must share its context)."""
    context = document.get("@context")
    if context is None or proof_config.get("@context") != context:
        return rdfc(document), rdfc(proof_config)
    body = {k: v for k, v in document.items() if k != "@context"}
    proof = {k: v for k, v in proof_config.items() if k != "@context"}
    if "@graph" in body:
        return rdfc(document), rdfc(proof_config)
    merged = {
        "@graph": [{"@id": _DOC_GRAPH, "@graph": body}, {"@id": _PROOF_GRAPH, "@graph": proof}],
    }
    doc_quads: list[ox.Quad] = []
    proof_quads: list[ox.Quad] = []
    for quad in _parse(_with_context(context, merged)):
        graph = quad.graph_name
        if isinstance(graph, ox.NamedNode) and graph.value == _DOC_GRAPH:
            doc_quads.append(ox.Quad(quad.subject, quad.predicate, quad.object))
        elif isinstance(graph, ox.NamedNode) and graph.value == _PROOF_GRAPH:
            proof_quads.append(ox.Quad(quad.subject, quad.predicate, quad.object))
        else:
            # Nested graphs (e.g. a presentation's credentials) need the exact two-pass route.
            return rdfc(document), rdfc(proof_config)
    return _nquads(doc_quads), _nquads(proof_quads)


def _is_iri(text: str) -> bool:
    return ":" in text


def undefined_terms(document: Mapping[str, Any]) -> list[str]:
    """Keys and types that no context in play defines (so RDFC would drop them unsigned).

    Conservative and fast: a term defined by *some* context of the document counts as defined even
    where its scope does not reach. :func:`dropped_terms_exact` is the exact check.
    """
    found: list[str] = []

    def walk(node: Any, terms: frozenset[str], vocab: bool, path: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, terms, vocab, path)
            return
        if not isinstance(node, Mapping):
            return
        if "@context" in node:
            extra, extra_vocab = defined_terms(node["@context"])
            terms, vocab = terms | extra, vocab or extra_vocab
        if vocab:
            return
        for key, value in node.items():
            if key in _KEYWORDS:
                continue
            if key not in terms and not _is_iri(key):
                found.append(f"{path}{key}")
                continue
            if key in ("type", "@type"):
                for t in value if isinstance(value, list) else [value]:
                    if isinstance(t, str) and t not in terms and not _is_iri(t):
                        found.append(f"{path}{key}={t}")
                continue
            walk(value, terms, vocab, f"{path}{key}.")

    walk(document, frozenset(), False, "")
    return found


def dropped_terms_exact(document: Mapping[str, Any]) -> list[str]:
    """Properties a full JSON-LD 1.1 expansion (pyld, offline loader) drops; slow but exact."""
    from pyld import jsonld

    dropped: list[str] = []

    def on_dropped(prop: str | None) -> None:
        dropped.append(str(prop))

    try:
        jsonld.expand(
            dict(document), {"documentLoader": pyld_loader}, on_property_dropped=on_dropped
        )
    except jsonld.JsonLdError as exc:
        raise CredentialFormatError(f"JSON-LD expansion failed: {exc}") from exc
    return dropped
