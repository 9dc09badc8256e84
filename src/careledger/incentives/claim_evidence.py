"""Paid-claim evidence: a rule keyed to a ledger fact — "a claim the sponsor paid, with a line
billing one of the rule's codes" (an annual wellness visit ``HC:G0439``, a preventive code).

**How the member is linked to the claim without PHI on chain.** The ``claims`` contract knows a
member only by the payer's keyed member handle (``ph1…``, an HMAC of the member id under the
payer's member secret, :func:`careledger.payer.pas.bundles.member_handle`): nobody but the payer
can compute it. So the sponsor of such a campaign is the payer, and the member presents

* the **claim key** of their claim (the ledger id of the adjudication, on their EOB);
* their **coverage credential** from that payer (``InsuranceCoverageCredential``, issuer
  accredited in the trust registry, not revoked), whose subject is the member's DID and whose
  ``memberId`` is the payer's member id;
* a **holder proof** by a key of that DID over the campaign, rule and campaign key.

The sponsor's node turns ``memberId`` into the handle with its own member secret (``handles``,
the node's claim directory) and requires it to be the adjudication's member. Then it reads the
adjudication from its peer: not voided (a void deletes it and records a reversal), adjudicated
by the sponsor, a line with a listed code paid more than zero (a denied or pended claim pays
nothing), adjudicated within the rule's freshness window. Each refusal has its own code
(:class:`~careledger.incentives.codes.RejectCode`).

On chain the award carries only keyed digests: the nullifier is (campaign, rule, the member's
handle for a once-per-member rule, otherwise the claim key and line), so the same claim line —
or a replacement of the claim, which keeps its key — is never rewarded twice; the evidence
digest is (claim key, line). Neither the codes billed nor the amounts paid are written.

An auditor's node cannot compute the payer's member handles (``handles`` answers None for
another payer's members): it re-checks the coverage credential, the holder proof and every claim
fact, and leaves the member link to the payer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from careledger.contracts.incentives.terms import CampaignSpec, Rule
from careledger.credentials.base import KeyResolver
from careledger.credentials.credential_types import INSURANCE_COVERAGE
from careledger.credentials.errors import CredentialFormatError
from careledger.credentials.ledger import LedgerQuery
from careledger.credentials.verifier import Verifier
from careledger.errors import CareLedgerError
from careledger.incentives.codes import RejectCode, from_verifier
from careledger.incentives.evidence import (
    ClaimEvidence,
    EvidenceChecker,
    EvidenceVerdict,
)
from careledger.incentives.wallet import holder_payload

_DAY_MS = 86_400_000
_HEX = frozenset("0123456789abcdef")


class MemberHandles(Protocol):
    """The payer's member handles (:class:`careledger.payer.claims.routes.NodeClaimDirectory`):
    the handle of ``member_id`` at ``payer``, or None when this node cannot compute it."""

    def member_handle(self, payer_org: str, member_id: str) -> str | None: ...


def _refuse(code: RejectCode, message: str) -> EvidenceVerdict:
    return EvidenceVerdict(code, message)


class PaidClaimChecker(EvidenceChecker):
    """An :class:`EvidenceChecker` that also checks ``paid_claim`` rules (see the module
    docstring); ``query`` reads the ``claims`` contract, ``handles`` are the node's."""

    def __init__(
        self,
        verifier: Verifier,
        keys: KeyResolver,
        query: LedgerQuery,
        handles: MemberHandles | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(verifier, keys, query, clock)
        self._claims_query = query
        self._handles = handles

    def _check(
        self, evidence: Any, spec: CampaignSpec, rule: Rule, sponsor: str, member_key: str
    ) -> EvidenceVerdict:
        if isinstance(evidence, ClaimEvidence) and rule.evidence == "paid_claim":
            return self._paid_claim(evidence, spec, rule, sponsor, member_key)
        return super()._check(evidence, spec, rule, sponsor, member_key)

    def _coverage(
        self, evidence: ClaimEvidence, spec: CampaignSpec, rule: Rule, member_key: str
    ) -> EvidenceVerdict | tuple[str, str]:
        """The coverage credential and holder proof: (member id, subject DID), or a refusal."""
        credential: Any = evidence.coverage
        if not isinstance(credential, Mapping):
            return _refuse(RejectCode.MALFORMED_EVIDENCE, "a coverage credential is a JSON object")
        subject = credential.get("credentialSubject")
        subject_id = subject.get("id") if isinstance(subject, Mapping) else None
        member_id = subject.get("memberId") if isinstance(subject, Mapping) else None
        issuer = credential.get("issuer")
        issuer = issuer.get("id") if isinstance(issuer, Mapping) else issuer
        if not isinstance(subject_id, str) or not isinstance(issuer, str):
            return _refuse(RejectCode.MALFORMED_EVIDENCE, "credential has no issuer or subject id")
        types = credential.get("type")
        if not isinstance(types, list) or INSURANCE_COVERAGE.name not in types:
            return _refuse(
                RejectCode.WRONG_CREDENTIAL_TYPE,
                f"a paid claim is shown with an {INSURANCE_COVERAGE.name}",
            )
        if issuer == subject_id:
            return _refuse(RejectCode.SELF_REPORTED, "self-reported data is not evidence")
        if not isinstance(member_id, str) or not member_id:
            return _refuse(RejectCode.MALFORMED_EVIDENCE, "the coverage credential has no memberId")
        try:
            result = self._verifier.verify_credential(credential, INSURANCE_COVERAGE.name)
        except (CredentialFormatError, CareLedgerError, ValueError, TypeError) as exc:
            return _refuse(RejectCode.MALFORMED_EVIDENCE, str(exc)[:200])
        if not result.ok:
            return _refuse(from_verifier(result.codes), "; ".join(map(str, result.reasons)))
        problem = self._holder(
            evidence.holder, subject_id, holder_payload(spec.id, rule.id, member_key)
        )
        if problem is not None:
            return _refuse(RejectCode.HOLDER_PROOF_INVALID, problem)
        return member_id, subject_id

    def _read(self, function: str, claim_key: str) -> Any:
        return self._claims_query("claims", function, [claim_key])

    def _paid_claim(
        self,
        evidence: ClaimEvidence,
        spec: CampaignSpec,
        rule: Rule,
        sponsor: str,
        member_key: str,
    ) -> EvidenceVerdict:
        key = evidence.claim_key
        if not isinstance(key, str) or len(key) != 64 or not set(key) <= _HEX:
            return _refuse(RejectCode.MALFORMED_EVIDENCE, "a claim key is 64 hex digits")
        line = evidence.line
        if line is not None and (
            not isinstance(line, int) or isinstance(line, bool) or not 1 <= line <= 999
        ):
            return _refuse(RejectCode.MALFORMED_EVIDENCE, "a claim line is 1 to 999")
        shown = self._coverage(evidence, spec, rule, member_key)
        if isinstance(shown, EvidenceVerdict):
            return shown
        member_id, _subject = shown
        try:
            adjudication = self._read("adjudication", key)
            reversals = [] if adjudication is not None else self._read("reversals", key)
        except (CareLedgerError, OSError) as exc:
            return _refuse(RejectCode.STATUS_UNAVAILABLE, f"claim lookup: {exc}"[:200])
        record: Mapping[str, Any] | None = adjudication or (reversals[-1] if reversals else None)
        if record is None:
            return _refuse(RejectCode.CLAIM_NOT_FOUND, "no adjudication of that claim key")
        if record["payer"] != sponsor:
            return _refuse(
                RejectCode.CLAIM_OTHER_PAYER, f"the claim was not adjudicated by {sponsor}"
            )
        handle = None if self._handles is None else self._handles.member_handle(sponsor, member_id)
        if handle is not None and handle != record["member"]:
            return _refuse(RejectCode.CLAIM_OTHER_MEMBER, "the claim is another member's")
        if adjudication is None:
            return _refuse(RejectCode.CLAIM_REVERSED, "the claim was voided (reversed)")
        paid = self._paid_line(adjudication, rule, line)
        if isinstance(paid, EvidenceVerdict):
            return paid
        today = int(self._clock() * 1000) // _DAY_MS
        if today - int(adjudication["adjudicated"]) > rule.max_age_days:
            return _refuse(
                RejectCode.EVIDENCE_STALE, f"paid more than {rule.max_age_days} days ago"
            )
        event = f"claim|{key}|{paid:03d}".encode()
        return EvidenceVerdict(None, "accepted", str(record["member"]), event)

    @staticmethod
    def _paid_line(
        adjudication: Mapping[str, Any], rule: Rule, line: int | None
    ) -> int | EvidenceVerdict:
        """The number of the line rewarded, or why there is none."""
        codes = set(rule.codes or ())
        listed = [
            ln
            for ln in adjudication["lines"]
            if ln["code"] in codes and (line is None or ln["line"] == line)
        ]
        if not listed:
            where = "the claim" if line is None else f"line {line}"
            return _refuse(
                RejectCode.CLAIM_CODE_NOT_LISTED, f"{where} bills no code of rule {rule.id}"
            )
        if adjudication["disposition"] != "processed":
            return _refuse(RejectCode.CLAIM_NOT_PAID, f"the claim is {adjudication['disposition']}")
        paid = [ln for ln in listed if int(ln["paid_cents"]) > 0]
        if not paid:
            return _refuse(RejectCode.CLAIM_NOT_PAID, "no line with a listed code was paid")
        return int(paid[0]["line"])
