"""Errors of the FHIR API and store, and the one table that gives each its HTTP status.

::

    CareLedgerError
     ├── InvalidInput                  (careledger.errors) bad JSON, bad parameter      400
     │    ├── PayloadTooLarge          a body over the limit                            413
     │    ├── UnsupportedMediaType     a body that is not FHIR JSON                     415
     │    └── InvalidResource          fails FHIR R4 validation; carries the paths      422
     ├── ResourceNotFound              no such type, id or version                      404
     ├── ResourceGone                  deleted, or erased by crypto-shredding           410
     ├── VersionConflict               If-Match or a concurrent writer disagreed        412
     └── AccessDenied                  the AccessPolicy refused another organisation    403

Each subclasses the generic error of :mod:`careledger.errors` whose HTTP status it has, so the
status comes from :func:`careledger.errors.http_status`, the project's one mapping;
:mod:`careledger.fhir.outcome` turns an error into an ``OperationOutcome``.
"""

from __future__ import annotations

from dataclasses import dataclass

from careledger.errors import (
    AccessDenied as _AccessDenied,
)
from careledger.errors import (
    CareLedgerError,
    Gone,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    Unprocessable,
    UnsupportedMediaType,
    http_status,
)

__all__ = [
    "AccessDenied",
    "FhirError",
    "InvalidResource",
    "Issue",
    "PayloadTooLarge",
    "ResourceGone",
    "ResourceNotFound",
    "UnsupportedMediaType",
    "VersionConflict",
    "status_of",
]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem, located by a FHIRPath-like ``expression`` (``Observation.status``)."""

    code: str  # an OperationOutcome issue-type code: invalid, required, structure, ...
    diagnostics: str
    expression: str | None = None
    severity: str = "error"


class FhirError(CareLedgerError):
    """Base of the FHIR errors; ``issue_code`` is the OperationOutcome issue type."""

    issue_code = "processing"

    def issues(self) -> list[Issue]:
        return [Issue(self.issue_code, str(self) or type(self).__name__)]


class InvalidResource(Unprocessable):
    """A resource that fails validation; nothing was stored."""

    def __init__(self, message: str, issues: list[Issue]) -> None:
        super().__init__(message)
        self._issues = issues

    def issues(self) -> list[Issue]:
        return list(self._issues)


class ResourceNotFound(FhirError, NotFound):
    issue_code = "not-found"


class ResourceGone(FhirError, Gone):
    """Deleted (``erased`` False) or destroyed by crypto-shredding (``erased`` True)."""

    issue_code = "deleted"

    def __init__(self, message: str, *, erased: bool = False) -> None:
        super().__init__(message)
        self.erased = erased


class VersionConflict(FhirError, PreconditionFailed):
    issue_code = "conflict"


class AccessDenied(FhirError, _AccessDenied):
    issue_code = "forbidden"


def status_of(error: BaseException) -> int:
    """The HTTP status for ``error`` (the project's one mapping)."""
    return http_status(error)
