"""Evidence checks before minting, and the keyed digests that go on chain instead of it.

Evidence is verifiable or it is nothing: a credential signed by an issuer the trust registry
accredits for the rule's credential type, not revoked or suspended on its status list, within its
validity and the rule's freshness window, and presented by its subject (a holder proof by a key
of the subject's DID naming the member's campaign key); or a ledger fact — a research consent
recorded in the ``consent`` contract, granted to the sponsor, presented by the patient's DID.
A credential its own subject issued is self-reported and refused. Each refusal has its own
:class:`~careledger.incentives.codes.RejectCode`.

On chain only three digests of the evidence appear, each an HMAC under the campaign's
*evidence key* (held by the sponsor and the auditor, never on chain), so nobody can test a
guess such as "vaccine code 140 on that date" against them:

* the **nullifier** — (campaign, rule, the event: the subject for a once-per-member rule,
  otherwise the credential subject's claims, so a re-issued credential for the same event is the
  same evidence);
* the **holder tag** — (campaign, subject): one pseudonym per holder per campaign;
* the **evidence digest** — (the issuer and the credential's proof values, which bind its
  content), for the auditor to match.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from careledger.contracts.incentives.terms import CampaignSpec, Rule
from careledger.credentials.base import KeyResolver
from careledger.credentials.canonical import jcs
from careledger.credentials.data_integrity import parse_datetime
from careledger.credentials.errors import CredentialFormatError
from careledger.credentials.ledger import LedgerQuery
from careledger.credentials.verifier import Verifier
from careledger.errors import CareLedgerError
from careledger.incentives.codes import RejectCode, from_verifier
from careledger.incentives.wallet import HolderProof, holder_payload

_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class CredentialEvidence:
    """A W3C VC (Data Integrity) presented with its subject's holder proof."""

    credential: Mapping[str, Any]
    holder: HolderProof


@dataclass(frozen=True, slots=True)
class ConsentEvidence:
    """A consent recorded on the ledger (``consent`` contract), presented by its patient."""

    patient: str
    consent_id: str
    holder: HolderProof


@dataclass(frozen=True, slots=True)
class ClaimEvidence:
    """A claim the sponsor paid (``claims`` contract), presented by its member: the claim key,
    the member's coverage credential from that payer and the credential subject's holder proof
    (checked by :class:`careledger.incentives.claim_evidence.PaidClaimChecker`). ``line``: the
    claim line rewarded (None: the first paid line with a listed code)."""

    claim_key: str
    coverage: Mapping[str, Any]
    holder: HolderProof
    line: int | None = None


Evidence = CredentialEvidence | ConsentEvidence | ClaimEvidence


@dataclass(frozen=True, slots=True)
class EvidenceVerdict:
    """The outcome of checking one piece of evidence against one rule."""

    code: RejectCode | None
    message: str = ""
    subject: str = ""
    event: bytes = b""

    @property
    def ok(self) -> bool:
        return self.code is None


def _refuse(code: RejectCode, message: str) -> EvidenceVerdict:
    return EvidenceVerdict(code, message)


@dataclass(frozen=True, slots=True)
class EvidenceDigests:
    nullifier: str
    holder_tag: str
    evidence_digest: str


def _mac(key: bytes, *parts: bytes) -> str:
    return hmac.new(key, b"\x00".join(parts), hashlib.sha256).hexdigest()


def digests(
    key: bytes, campaign: str, rule: Rule, verdict: EvidenceVerdict, evidence: Evidence
) -> EvidenceDigests:
    """The on-chain digests of accepted evidence under the campaign's evidence key."""
    event = verdict.subject.encode() if rule.once_per_member else verdict.event
    if isinstance(evidence, CredentialEvidence):
        # The issuer's signature binds the credential's content: it names the evidence as well
        # as a canonical form of the whole document would, for a fraction of the cost.
        proofs = evidence.credential.get("proof")
        proofs = proofs if isinstance(proofs, list) else [proofs]
        values = [p.get("proofValue", "") for p in proofs if isinstance(p, Mapping)]
        body = jcs({"issuer": evidence.credential.get("issuer"), "proofs": values})
    elif isinstance(evidence, ConsentEvidence):
        body = f"{evidence.patient}|{evidence.consent_id}".encode()
    else:
        body = verdict.event  # a paid claim: its key and line (nothing else of it)
    return EvidenceDigests(
        nullifier=_mac(key, b"nullifier", campaign.encode(), rule.id.encode(), event),
        holder_tag=_mac(key, b"holder", campaign.encode(), verdict.subject.encode()),
        evidence_digest=_mac(key, b"evidence", campaign.encode(), body),
    )


class EvidenceChecker:
    """Checks evidence for a rule with a credentials :class:`Verifier` (trust registry and
    status lists on the ledger) and, for consent evidence, a ledger query."""

    def __init__(
        self,
        verifier: Verifier,
        keys: KeyResolver,
        query: LedgerQuery | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = verifier
        self._keys = keys
        self._query = query
        self._clock = clock
        self.checks = 0
        self.seconds = 0.0
        """How many checks this checker made and the time they took (for benchmarks)."""

    def check(
        self, evidence: Any, spec: CampaignSpec, rule: Rule, sponsor: str, member_key: str
    ) -> EvidenceVerdict:
        """Never raises for bad evidence: the verdict's code says why it is refused."""
        started = time.perf_counter()
        try:
            return self._check(evidence, spec, rule, sponsor, member_key)
        finally:
            self.checks += 1
            self.seconds += time.perf_counter() - started

    def _check(
        self, evidence: Any, spec: CampaignSpec, rule: Rule, sponsor: str, member_key: str
    ) -> EvidenceVerdict:
        if isinstance(evidence, CredentialEvidence) and rule.evidence == "credential":
            return self._credential(evidence, spec, rule, member_key)
        if isinstance(evidence, ConsentEvidence) and rule.evidence == "consent":
            return self._consent(evidence, spec, rule, sponsor, member_key)
        return _refuse(RejectCode.MALFORMED_EVIDENCE, f"rule {rule.id} takes {rule.evidence}")

    def _holder(self, proof: HolderProof, subject: str, payload: bytes) -> str | None:
        if proof.verification_method.split("#", 1)[0] != subject:
            return "the holder proof is not by the evidence's subject"
        lookup = self._keys.verification_method(proof.verification_method, "authentication")
        if lookup.method is None:
            return lookup.error
        if not lookup.method.public_key.verify(payload, proof.signature):
            return "the holder proof does not verify"
        return None

    def _credential(
        self, evidence: CredentialEvidence, spec: CampaignSpec, rule: Rule, member_key: str
    ) -> EvidenceVerdict:
        credential: Any = evidence.credential
        if not isinstance(credential, Mapping):
            return _refuse(RejectCode.MALFORMED_EVIDENCE, "a credential is a JSON object")
        subject = credential.get("credentialSubject")
        subject_id = subject.get("id") if isinstance(subject, Mapping) else None
        issuer = credential.get("issuer")
        issuer = issuer.get("id") if isinstance(issuer, Mapping) else issuer
        types = credential.get("type")
        if not isinstance(subject_id, str) or not isinstance(issuer, str):
            return _refuse(RejectCode.MALFORMED_EVIDENCE, "credential has no issuer or subject id")
        if not isinstance(types, list) or rule.credential_type not in types:
            return _refuse(
                RejectCode.WRONG_CREDENTIAL_TYPE, f"rule {rule.id} takes {rule.credential_type}"
            )
        if issuer == subject_id:
            return _refuse(RejectCode.SELF_REPORTED, "self-reported data is not evidence")
        try:
            result = self._verifier.verify_credential(credential, rule.credential_type)
        except (CredentialFormatError, CareLedgerError, ValueError, TypeError) as exc:
            return _refuse(RejectCode.MALFORMED_EVIDENCE, str(exc)[:200])
        if not result.ok:
            return _refuse(from_verifier(result.codes), "; ".join(map(str, result.reasons)))
        issued = parse_datetime(credential.get("validFrom", credential.get("issuanceDate")))
        now_ms = int(self._clock() * 1000)
        if issued is None or now_ms - int(issued.timestamp() * 1000) > rule.max_age_days * _DAY_MS:
            return _refuse(RejectCode.EVIDENCE_STALE, f"older than {rule.max_age_days} days")
        problem = self._holder(
            evidence.holder, subject_id, holder_payload(spec.id, rule.id, member_key)
        )
        if problem is not None:
            return _refuse(RejectCode.HOLDER_PROOF_INVALID, problem)
        claims = (
            {k: v for k, v in subject.items() if k != "id"} if isinstance(subject, Mapping) else {}
        )
        event = jcs({"type": rule.credential_type, "subject": subject_id, "claims": claims})
        return EvidenceVerdict(None, "accepted", subject_id, event)

    def _consent(
        self,
        evidence: ConsentEvidence,
        spec: CampaignSpec,
        rule: Rule,
        sponsor: str,
        member_key: str,
    ) -> EvidenceVerdict:
        if self._query is None:
            return _refuse(RejectCode.STATUS_UNAVAILABLE, "no ledger to read consents from")
        try:
            records = self._query("consent", "consents", [evidence.patient])
        except (CareLedgerError, OSError) as exc:
            return _refuse(RejectCode.MALFORMED_EVIDENCE, f"consent lookup: {exc}"[:200])
        record = next((r for r in records if r.get("id") == evidence.consent_id), None)
        if record is None:
            return _refuse(RejectCode.CONSENT_NOT_ACTIVE, "no such consent on the ledger")
        terms = record["terms"]
        now_ms = int(self._clock() * 1000)
        if (
            record["status"] != "active"
            or terms["grantee"] != sponsor
            or "HRESCH" not in terms["purposes"]
            or not terms["start"] <= now_ms < terms["end"]
        ):
            return _refuse(
                RejectCode.CONSENT_NOT_ACTIVE,
                "the consent is not an active research consent granted to the sponsor",
            )
        if now_ms - int(record["granted_at"]) > rule.max_age_days * _DAY_MS:
            return _refuse(RejectCode.EVIDENCE_STALE, f"older than {rule.max_age_days} days")
        problem = self._holder(
            evidence.holder, evidence.patient, holder_payload(spec.id, rule.id, member_key)
        )
        if problem is not None:
            return _refuse(RejectCode.HOLDER_PROOF_INVALID, problem)
        return EvidenceVerdict(None, "accepted", evidence.patient, evidence.consent_id.encode())
