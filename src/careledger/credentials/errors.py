"""Errors raised by the credentials package.

A credential that does not verify is *not* an exception: verifiers return a
:class:`~careledger.credentials.results.VerificationResult` with reasons. These are for faults
and for requests that cannot be carried out::

    CareLedgerError
     ├── InvalidInput
     │    ├── CredentialFormatError   a credential, presentation or request that is malformed
     │    ├── SchemaError             claims that do not match the credential type's schema
     │    └── UnknownContext          a JSON-LD context URL that is not shipped with CareLedger
     ├── CryptoError
     │    └── ProofError              a proof cannot be created (unsupported suite, bad key)
     └── WalletError                  the wallet file cannot be opened (bad passphrase, damaged)
"""

from __future__ import annotations

from careledger.errors import CareLedgerError, CryptoError, InvalidInput


class CredentialFormatError(InvalidInput):
    """A credential, presentation or request that is not of the expected shape."""


class SchemaError(InvalidInput):
    """Claims rejected by the credential type's schema at issuance."""


class UnknownContext(InvalidInput):
    """A JSON-LD context that CareLedger does not ship; nothing is fetched from the network."""


class ProofError(CryptoError):
    """A proof cannot be created: unknown cryptosuite, or a key of the wrong type."""


class WalletError(CareLedgerError):
    """The wallet cannot be opened or saved: wrong passphrase or damaged file."""
