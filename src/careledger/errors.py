"""One exception tree for CareLedger.

Exceptions are for faults and for requests that cannot be carried out; a transaction that fails
validation is *not* an exception but a ``ValidationCode`` recorded in its block.

::

    CareLedgerError
     ├── InvalidInput            a request or argument that is malformed, oversized or mistyped
     │    ├── EncodingError      bytes that are not canonical CBOR of the expected shape
     │    ├── PayloadTooLarge    a request body over the API's limit
     │    ├── UnsupportedMediaType  a body in a format the API does not serve
     │    └── Unprocessable      well-formed but invalid content (e.g. fails FHIR validation)
     ├── NotFound                a block, transaction or resource that does not exist here
     ├── Gone                    deleted, or erased by crypto-shredding
     ├── PreconditionFailed      a version precondition (If-Match) did not hold
     ├── AccessDenied            an authenticated requester without consent or permission
     ├── NotAuthenticated        a request without a valid member signature
     ├── CryptoError             a key or signature that cannot be used
     ├── MembershipError         an identity that is not a valid member of the consortium
     ├── PolicyError             an endorsement policy that cannot be parsed
     ├── ContractError           a contract raised, or was asked for a function it lacks
     │    └── UnknownContract    no approved definition / no installed code for that name
     ├── EndorsementError        endorsers disagree or too few could be reached
     │    └── EndorserUnavailable  one endorsing peer could not be reached (another may serve)
     ├── TransactionInvalid      a submitted transaction committed with a non-VALID code
     ├── OrderingError           ordering could not accept a transaction (retryable)
     ├── StorageError            the block store or state store is damaged or unusable
     └── ChainVerificationError  ``careledger verify`` found a block that does not check out

Mapping to HTTP statuses lives in exactly one place: :func:`http_status`.
"""

from __future__ import annotations


class CareLedgerError(Exception):
    """Base of every error CareLedger raises on purpose."""


class InvalidInput(CareLedgerError):
    """The caller sent something malformed; nothing was changed."""


class EncodingError(InvalidInput):
    """Bytes that do not decode to the expected canonical structure."""


class PayloadTooLarge(InvalidInput):
    """A request body over the API's limit; nothing was read past the limit."""


class UnsupportedMediaType(InvalidInput):
    """A body declared in a format the API does not serve."""


class Unprocessable(InvalidInput):
    """Well-formed input whose content is invalid (e.g. a resource failing FHIR validation)."""


class NotFound(CareLedgerError):
    """The block, transaction or resource asked for does not exist on this node."""


class Gone(CareLedgerError):
    """The resource existed but was deleted, or erased by crypto-shredding."""


class PreconditionFailed(CareLedgerError):
    """A version precondition (If-Match, expected version) did not hold; nothing changed."""


class AccessDenied(CareLedgerError):
    """The requester is known but not allowed (no consent, no permission)."""


class NotAuthenticated(CareLedgerError):
    """A request without a valid member signature (missing, bad, stale or not a member)."""


class CryptoError(CareLedgerError):
    """A key or signature that cannot be used."""


class MembershipError(CareLedgerError):
    """An identity that does not chain to a consortium organisation, or is revoked."""


class PolicyError(CareLedgerError):
    """An endorsement policy expression that cannot be parsed or names unknown organisations."""


class ContractError(CareLedgerError):
    """A contract function raised, or the function does not exist."""


class UnknownContract(ContractError):
    """No approved definition, or no installed code, for the contract named."""


class EndorsementError(CareLedgerError):
    """Endorsers returned different results, or the policy cannot be met by reachable peers."""


class EndorserUnavailable(EndorsementError):
    """An endorsing peer could not be reached or failed; the gateway asks another if it can."""


class TransactionInvalid(CareLedgerError):
    """A transaction was ordered but marked invalid at validation."""

    def __init__(self, tx_id: str, code: str) -> None:
        super().__init__(f"transaction {tx_id} committed as invalid: {code}")
        self.tx_id = tx_id
        self.code = code


class OrderingError(CareLedgerError):
    """Ordering did not accept the transaction; the caller may retry."""


class StorageError(CareLedgerError):
    """A store is damaged or cannot be used."""


class ChainVerificationError(CareLedgerError):
    """A block failed a check; the message names the block and the check."""

    def __init__(self, block: int, check: str, detail: str = "") -> None:
        msg = f"block {block}: {check} check failed" + (f": {detail}" if detail else "")
        super().__init__(msg)
        self.block = block
        self.check = check


_HTTP_STATUS: tuple[tuple[type[CareLedgerError], int], ...] = (
    (UnknownContract, 404),
    (NotFound, 404),
    (Gone, 410),
    (PreconditionFailed, 412),
    (AccessDenied, 403),
    (NotAuthenticated, 401),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (Unprocessable, 422),
    (InvalidInput, 400),
    (PolicyError, 400),
    (MembershipError, 403),
    (CryptoError, 400),
    (ContractError, 422),
    (TransactionInvalid, 409),
    (EndorsementError, 502),
    (OrderingError, 503),
    (StorageError, 500),
    (ChainVerificationError, 500),
)


def http_status(error: BaseException) -> int:
    """The HTTP status an API returns for ``error`` (500 for anything unexpected)."""
    for kind, status in _HTTP_STATUS:
        if isinstance(error, kind):
            return status
    return 500


def roll_up(error: BaseException) -> str:
    """Flatten an error and its causes into one readable line for API output."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current) or type(current).__name__
        if not parts or text not in parts[-1]:
            parts.append(text)
        current = current.__cause__ or current.__context__
    return ": ".join(parts)
