"""How the HTTP API turns an error into a response.

Statuses come from :func:`careledger.errors.http_status`, the one mapping in the project; this
module shapes the JSON body. The API's errors (``NotFound``, ``NotAuthenticated``,
``PayloadTooLarge``) are re-exported from :mod:`careledger.errors` for callers' convenience.
"""

from __future__ import annotations

from careledger.errors import (
    CareLedgerError,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    http_status,
    roll_up,
)

__all__ = ["NotAuthenticated", "NotFound", "PayloadTooLarge", "error_body", "status_of"]


def status_of(error: BaseException) -> int:
    """The HTTP status for ``error``."""
    return http_status(error)


def error_body(error: BaseException) -> dict[str, str]:
    """The JSON body of an error response: ``{"error": message, "type": class name}``.

    Unexpected exceptions (not a :class:`CareLedgerError`) are reported without their message,
    which may hold internals; the node logs them.
    """
    if isinstance(error, CareLedgerError):
        body = {"error": roll_up(error), "type": type(error).__name__}
        code = getattr(error, "code", None)
        tx_id = getattr(error, "tx_id", None)
        if isinstance(code, str) and isinstance(tx_id, str):  # TransactionInvalid
            body |= {"code": code, "tx_id": tx_id}
        return body
    return {"error": "internal error", "type": "InternalError"}
