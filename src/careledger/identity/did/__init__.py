"""Decentralized identifiers: did:key, did:web and did:careledger, resolved through one resolver.

Public API::

    resolver = DidResolver([DidKeyMethod(), DidWebMethod(fetcher), InMemoryDidRegistry()])
    result = resolver.resolve("did:key:z6Mk…")          # ResolutionResult, never raises
    lookup = resolver.verification_method(vm_id, "assertionMethod")
"""

from careledger.identity.did.base import (
    DidDocument,
    DidMethod,
    DocumentFetcher,
    DocumentMetadata,
    ResolutionError,
    ResolutionOptions,
    ResolutionResult,
    VerificationMethod,
)
from careledger.identity.did.careledger_method import InMemoryDidRegistry
from careledger.identity.did.errors import DidKeyError, DidOperationError, InvalidDid
from careledger.identity.did.key_method import DidKeyMethod, did_key_document
from careledger.identity.did.keys import Ed25519Signer, KeyType, PublicKey
from careledger.identity.did.resolver import DidResolver, MethodLookup
from careledger.identity.did.web_method import (
    DidWebMethod,
    StaticFetcher,
    did_web_for,
    did_web_url,
    render_did_json,
)

__all__ = [
    "DidDocument",
    "DidKeyError",
    "DidKeyMethod",
    "DidMethod",
    "DidOperationError",
    "DidResolver",
    "DidWebMethod",
    "DocumentFetcher",
    "DocumentMetadata",
    "Ed25519Signer",
    "InMemoryDidRegistry",
    "InvalidDid",
    "KeyType",
    "MethodLookup",
    "PublicKey",
    "ResolutionError",
    "ResolutionOptions",
    "ResolutionResult",
    "StaticFetcher",
    "VerificationMethod",
    "did_key_document",
    "did_web_for",
    "did_web_url",
    "render_did_json",
]
