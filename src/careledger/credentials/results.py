"""What verification returns: ``ok`` plus readable reasons with machine codes.

Invalid is a result, failed is an error: a credential that does not check out yields
``VerificationResult(ok=False, reasons=[...])``; exceptions are reserved for faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ReasonCode(StrEnum):
    """Why a credential or presentation was rejected (stable strings for APIs and logs)."""

    MALFORMED = "malformed"
    PROOF_MISSING = "proof_missing"
    PROOF_INVALID = "proof_invalid"
    UNSUPPORTED_PROOF = "unsupported_proof"
    UNDEFINED_TERMS = "undefined_terms"
    KEY_UNRESOLVED = "key_unresolved"
    ISSUER_KEY_AMBIGUOUS = "issuer_key_ambiguous"
    WRONG_PROOF_PURPOSE = "wrong_proof_purpose"
    ISSUER_MISMATCH = "issuer_mismatch"
    ISSUER_UNTRUSTED = "issuer_untrusted"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    STATUS_UNAVAILABLE = "status_unavailable"
    HOLDER_BINDING = "holder_binding_failed"
    HOLDER_BINDING_REQUIRED = "holder_binding_required"
    AUDIENCE_MISMATCH = "audience_mismatch"
    NONCE_MISMATCH = "nonce_mismatch"
    STALE_PRESENTATION = "stale_presentation"
    SD_HASH_MISMATCH = "sd_hash_mismatch"
    DISCLOSURE_INVALID = "disclosure_invalid"
    CLAIM_NOT_REQUESTED = "claim_not_requested"
    CLAIM_MISSING = "claim_missing"
    TYPE_MISMATCH = "type_mismatch"
    CHALLENGE_INVALID = "challenge_invalid"


@dataclass(frozen=True)
class Reason:
    """One reason a check failed."""

    code: ReasonCode
    message: str

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"


@dataclass
class VerificationResult:
    """The outcome of one verification call.

    ``claims`` holds what the verifier may rely on when ``ok`` (for SD-JWT, only disclosed claims).
    """

    reasons: list[Reason] = field(default_factory=list)
    claims: dict[str, Any] = field(default_factory=dict)
    issuer: str | None = None

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.reasons

    @property
    def codes(self) -> list[ReasonCode]:
        """The reason codes, in the order found."""
        return [r.code for r in self.reasons]

    def fail(self, code: ReasonCode, message: str) -> VerificationResult:
        """Record a failed check; returns self for chaining."""
        self.reasons.append(Reason(code, message))
        return self
