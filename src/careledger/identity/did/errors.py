"""Errors raised by the DID package.

A DID that cannot be resolved is *not* an exception: :class:`~careledger.identity.did.base.
ResolutionResult` carries the DID Core error code. These exceptions are for faults and misuse::

    CareLedgerError
     ├── InvalidInput
     │    └── InvalidDid         a string that is not a syntactically valid DID or key encoding
     ├── CryptoError
     │    └── DidKeyError        a key that cannot be decoded or does not verify
     └── DidOperationError      a did:careledger registry operation that is not allowed
"""

from __future__ import annotations

from careledger.errors import CareLedgerError, CryptoError, InvalidInput


class InvalidDid(InvalidInput):
    """A DID, DID URL or multikey string that does not parse."""


class DidKeyError(CryptoError):
    """A public key of an unsupported type, or a signature that does not verify."""


class DidOperationError(CareLedgerError):
    """A did:careledger operation refused: unknown DID, deactivated, or not authorised."""
