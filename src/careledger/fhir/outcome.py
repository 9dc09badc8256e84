"""OperationOutcome bodies: the one place a FHIR error becomes a response body and status.

Unexpected exceptions (not a :class:`~careledger.errors.CareLedgerError`) are reported as
``exception`` without their message, which may hold internals; the caller logs them.
"""

from __future__ import annotations

from typing import Any

from careledger.errors import CareLedgerError, InvalidInput, roll_up
from careledger.fhir.errors import (
    FhirError,
    InvalidResource,
    Issue,
    PayloadTooLarge,
    UnsupportedMediaType,
    status_of,
)

JSON = dict[str, Any]


def issues_of(error: BaseException) -> list[Issue]:
    """The issues an error reports, each with an OperationOutcome issue-type code."""
    if isinstance(error, FhirError | InvalidResource):
        return error.issues()
    if isinstance(error, PayloadTooLarge):
        return [Issue("too-costly", roll_up(error))]
    if isinstance(error, UnsupportedMediaType):
        return [Issue("not-supported", roll_up(error))]
    if isinstance(error, InvalidInput):
        return [Issue("invalid", roll_up(error))]
    if isinstance(error, CareLedgerError):
        return [Issue("processing", roll_up(error))]
    return [Issue("exception", "internal error")]


def operation_outcome(issues: list[Issue]) -> JSON:
    """An OperationOutcome resource holding ``issues``."""
    out: list[JSON] = []
    for issue in issues:
        item: JSON = {
            "severity": issue.severity,
            "code": issue.code,
            "diagnostics": issue.diagnostics,
        }
        if issue.expression:
            item["expression"] = [issue.expression]
        out.append(item)
    return {"resourceType": "OperationOutcome", "issue": out}


def outcome_for(error: BaseException) -> tuple[int, JSON]:
    """The status and OperationOutcome body for ``error``."""
    return status_of(error), operation_outcome(issues_of(error))


def information(message: str) -> JSON:
    """An informational OperationOutcome (a successful delete, ignored parameters)."""
    return operation_outcome([Issue("informational", message, severity="information")])
