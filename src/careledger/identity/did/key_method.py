"""The did:key method (W3C CCG did:key v0.7): the DID *is* the public key, so nothing is fetched.

Supports Ed25519 (``did:key:z6Mk…``) and P-256 (``did:key:zDn…``) in the Multikey representation.
"""

from __future__ import annotations

from typing import Any

from careledger.identity.did.base import (
    DidDocument,
    ResolutionError,
    ResolutionOptions,
    ResolutionResult,
)
from careledger.identity.did.errors import InvalidDid
from careledger.identity.did.keys import PublicKey

DID_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
_RELATIONSHIPS = (
    "authentication",
    "assertionMethod",
    "capabilityInvocation",
    "capabilityDelegation",
)


def did_key_document(key: PublicKey) -> dict[str, Any]:
    """The did:key DID document of ``key``."""
    did = "did:key:" + key.multikey
    vm_id = f"{did}#{key.multikey}"
    doc: dict[str, Any] = {
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": [
            {"id": vm_id, "type": "Multikey", "controller": did, "publicKeyMultibase": key.multikey}
        ],
    }
    for rel in _RELATIONSHIPS:
        doc[rel] = [vm_id]
    return doc


class DidKeyMethod:
    """Driver for ``did:key``."""

    method = "key"

    def resolve(self, did: str, options: ResolutionOptions) -> ResolutionResult:
        """Build the document from the key in the DID itself."""
        parts = did.split(":")
        if len(parts) != 3 or not parts[2].startswith("z"):
            return ResolutionResult.failure(ResolutionError.INVALID_DID, "did:key needs one z-key")
        try:
            key = PublicKey.from_multikey(parts[2])
        except InvalidDid as exc:
            return ResolutionResult.failure(ResolutionError.INVALID_DID, str(exc))
        return ResolutionResult(did_document=DidDocument(did_key_document(key)))
