"""Why an award or a redemption was refused: one vocabulary for the contract's recorded
rejections and the evidence checks made before anything is submitted.

Stable strings for APIs, events (``reward_rejected{code}``) and logs. A refusal is a result
(:class:`~careledger.incentives.awarding.AwardOutcome` with ``status == "rejected"``), never an
exception; exceptions are for malformed requests and faults.
"""

from __future__ import annotations

from enum import StrEnum

from careledger.credentials.results import ReasonCode


class RejectCode(StrEnum):
    # -- evidence, checked before minting (nothing is submitted) ---------------------------
    MALFORMED_EVIDENCE = "malformed_evidence"
    EVIDENCE_INVALID = "evidence_invalid"
    """The proof does not verify, or the issuer's key cannot be resolved."""
    EVIDENCE_REVOKED = "evidence_revoked"
    EVIDENCE_EXPIRED = "evidence_expired"
    EVIDENCE_NOT_YET_VALID = "evidence_not_yet_valid"
    EVIDENCE_STALE = "evidence_stale"
    """Older than the rule's freshness window."""
    ISSUER_UNTRUSTED = "issuer_untrusted"
    WRONG_CREDENTIAL_TYPE = "wrong_credential_type"
    SELF_REPORTED = "self_reported"
    HOLDER_PROOF_INVALID = "holder_proof_invalid"
    STATUS_UNAVAILABLE = "status_unavailable"
    CONSENT_NOT_ACTIVE = "consent_not_active"
    CLAIM_NOT_FOUND = "claim_not_found"
    """No adjudication of that claim key on the ledger (nor any reversal of one)."""
    CLAIM_REVERSED = "claim_reversed"
    """The claim was voided: its adjudication was reversed (835 ``CLP02`` 22)."""
    CLAIM_NOT_PAID = "claim_not_paid"
    """Denied, pended, or no line with a listed code paid more than zero."""
    CLAIM_CODE_NOT_LISTED = "claim_code_not_listed"
    """No line of the claim bills a code the rule lists."""
    CLAIM_OTHER_PAYER = "claim_other_payer"
    """Adjudicated by another payer than the campaign's sponsor."""
    CLAIM_OTHER_MEMBER = "claim_other_member"
    """The claim's member is not the member the coverage credential names."""
    # -- recorded by the contract ----------------------------------------------------------
    EVIDENCE_REPLAYED = "evidence_replayed"
    HOLDER_MISMATCH = "holder_mismatch"
    BUDGET_EXHAUSTED = "budget_exhausted"
    CAP_EXCEEDED = "cap_exceeded"
    VISIT_OUT_OF_ORDER = "visit_out_of_order"
    CAMPAIGN_CLOSED = "campaign_closed"
    CAMPAIGN_FROZEN = "campaign_frozen"
    MEMBER_FROZEN = "member_frozen"
    POINTS_EXPIRED = "points_expired"
    INSUFFICIENT_BALANCE = "insufficient_balance"


# The verifier may report several reasons; the most specific one names the refusal.
_FROM_VERIFIER: tuple[tuple[ReasonCode, RejectCode], ...] = (
    (ReasonCode.REVOKED, RejectCode.EVIDENCE_REVOKED),
    (ReasonCode.SUSPENDED, RejectCode.EVIDENCE_REVOKED),
    (ReasonCode.TYPE_MISMATCH, RejectCode.WRONG_CREDENTIAL_TYPE),
    (ReasonCode.ISSUER_UNTRUSTED, RejectCode.ISSUER_UNTRUSTED),
    (ReasonCode.EXPIRED, RejectCode.EVIDENCE_EXPIRED),
    (ReasonCode.NOT_YET_VALID, RejectCode.EVIDENCE_NOT_YET_VALID),
    (ReasonCode.STATUS_UNAVAILABLE, RejectCode.STATUS_UNAVAILABLE),
    (ReasonCode.MALFORMED, RejectCode.MALFORMED_EVIDENCE),
)


def from_verifier(codes: list[ReasonCode]) -> RejectCode:
    """The refusal for a credential the verifier did not accept (``codes`` non-empty)."""
    for reason, reject in _FROM_VERIFIER:
        if reason in codes:
            return reject
    return RejectCode.EVIDENCE_INVALID
