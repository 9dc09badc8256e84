"""Awarding points: check the evidence, compute its digests, get the auditor's co-signature,
submit the award — and report every outcome as a result, never as an exception.

The sponsor's service runs :class:`Awarder`; the auditor organisation runs an
:class:`AuditorCosigner`, which re-checks the evidence on its own (its verifier, its peer)
before it signs, so ``sponsor AND auditor`` means two organisations looked at the evidence.
Both derive the campaign's evidence key from secrets they hold (:class:`EvidenceKeys`); the
ledger never sees it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import msgspec

from careledger.contracts.incentives import NAMESPACE, award_payload, pseudonym_of
from careledger.contracts.incentives.terms import Campaign, CampaignSpec, Rule, rule_of
from careledger.errors import InvalidInput
from careledger.identity.msp import LocalIdentity
from careledger.incentives.batching import AwardBatcher
from careledger.incentives.codes import RejectCode
from careledger.incentives.events import IncentiveEvent, IncentiveEvents
from careledger.incentives.evidence import (
    EvidenceChecker,
    EvidenceDigests,
    EvidenceVerdict,
    digests,
)
from careledger.node.gateway import Gateway


class EvidenceKeys:
    """Per-campaign evidence keys derived from a secret the sponsor shares with its auditor."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise InvalidInput("an evidence key secret is at least 32 bytes")
        self._secret = secret

    def key(self, campaign: str) -> bytes:
        return hmac.new(
            self._secret,
            b"careledger/incentives/evidence/v1\x00" + campaign.encode(),
            hashlib.sha256,
        ).digest()


@dataclass(frozen=True, slots=True)
class AwardOutcome:
    """What happened to one award request."""

    status: Literal["awarded", "rejected"]
    code: RejectCode | None = None
    message: str = ""
    points: int = 0
    balance: int | None = None
    cap: str | None = None
    """For ``cap_exceeded``: which cap (``rule``, ``yearly``, ``service_value``)."""
    tx_id: str | None = None
    """The transaction that recorded it (None: refused before submission)."""
    pseudonym: str = ""

    @property
    def awarded(self) -> bool:
        return self.status == "awarded"


@dataclass(frozen=True, slots=True)
class Cosignature:
    identity: bytes
    signature: bytes


class Cosigner(Protocol):
    """The auditor's side of an award: re-check, then sign or refuse (never raises for bad
    evidence)."""

    async def cosign(
        self,
        campaign: Campaign,
        rule: Rule,
        evidence: Any,
        member_key: str,
        points: int,
        proposed: EvidenceDigests,
    ) -> Cosignature | EvidenceVerdict: ...


async def load_campaign(gateway: Gateway, campaign_id: str) -> Campaign:
    """The campaign as committed on the gateway's peer (raises for an unknown campaign)."""
    plain = await gateway.evaluate(NAMESPACE, "campaign", [campaign_id])
    plain = {k: v for k, v in plain.items() if k != "transferable"}
    return msgspec.convert(plain, Campaign)


class AuditorCosigner:
    """An auditor organisation's member co-signing awards it has checked itself."""

    def __init__(self, identity: LocalIdentity, checker: EvidenceChecker, keys: EvidenceKeys):
        self._identity = identity
        self._checker = checker
        self._keys = keys

    @property
    def checker(self) -> EvidenceChecker:
        return self._checker

    async def cosign(
        self,
        campaign: Campaign,
        rule: Rule,
        evidence: Any,
        member_key: str,
        points: int,
        proposed: EvidenceDigests,
    ) -> Cosignature | EvidenceVerdict:
        spec = campaign.spec
        verdict = self._checker.check(evidence, spec, rule, campaign.sponsor, member_key)
        if not verdict.ok:
            return verdict
        mine = digests(self._keys.key(spec.id), spec.id, rule, verdict, evidence)
        if mine != proposed:
            return EvidenceVerdict(
                RejectCode.MALFORMED_EVIDENCE, "digests differ from the auditor's"
            )
        pseudonym = pseudonym_of(bytes.fromhex(member_key))
        payload = award_payload(
            spec.id, pseudonym, rule.id, mine.nullifier, points, mine.evidence_digest
        )
        return Cosignature(self._identity.identity, self._identity.sign(payload))


class Awarder:
    """The sponsor's award service: evidence → digests → co-signature → the ``award``
    transaction. Every outcome (accepted or refused) is also an event in ``events``."""

    def __init__(
        self,
        gateway: Gateway,
        checker: EvidenceChecker,
        keys: EvidenceKeys,
        cosigner: Cosigner | None = None,
        events: IncentiveEvents | None = None,
        *,
        max_batch: int = 64,
        in_flight: int = 4,
    ) -> None:
        """``max_batch``, ``in_flight``: awards waiting for one of ``in_flight`` transaction
        slots go together, up to ``max_batch`` a transaction (:mod:`.batching`; 1 disables)."""
        self.gateway = gateway
        self.batcher = AwardBatcher(gateway, max_batch=max_batch, in_flight=in_flight)
        self._checker = checker
        self._keys = keys
        self._cosigner = cosigner
        self.events = events or IncentiveEvents()
        self._campaigns: dict[str, Campaign] = {}
        # Concurrent awards of this awarder start their budget debit in different tranches,
        # so they do not conflict with each other (MVCC) until the budget runs low.
        self._next_tranche: dict[str, itertools.count[int]] = {}

    @property
    def checker(self) -> EvidenceChecker:
        return self._checker

    @property
    def cosigner(self) -> Cosigner | None:
        return self._cosigner

    async def campaign(self, campaign_id: str) -> Campaign:
        found = self._campaigns.get(campaign_id)
        if found is None or found.frozen is not None:
            found = await load_campaign(self.gateway, campaign_id)
            self._campaigns[campaign_id] = found
        return found

    def _tranche(self, spec: CampaignSpec) -> int:
        """The next tranche for this awarder's awards: consecutive from a random start, so two
        awarders of one sponsor rarely start on the same tranches."""
        counter = self._next_tranche.get(spec.id)
        if counter is None:
            counter = self._next_tranche[spec.id] = itertools.count(secrets.randbelow(spec.shards))
        return next(counter) % spec.shards

    def _refused(self, spec: CampaignSpec, rule: str, verdict: EvidenceVerdict) -> AwardOutcome:
        assert verdict.code is not None
        self.events.emit(
            IncentiveEvent(
                "reward_rejected", {"campaign": spec.id, "rule": rule, "code": str(verdict.code)}
            )
        )
        return AwardOutcome("rejected", verdict.code, verdict.message)

    async def prepare(
        self, campaign_id: str, rule_id: str, evidence: Any, member_key: str
    ) -> tuple[Campaign, Rule, EvidenceVerdict, EvidenceDigests | None]:
        """Check evidence and compute its digests (nothing is submitted)."""
        campaign = await self.campaign(campaign_id)
        rule = rule_of(campaign.spec, rule_id)
        if not isinstance(member_key, str) or len(member_key) != 64:
            raise InvalidInput("member_key is a 32-byte public key in hex")
        try:
            bytes.fromhex(member_key)
        except ValueError as exc:
            raise InvalidInput("member_key is a 32-byte public key in hex") from exc
        verdict = self._checker.check(evidence, campaign.spec, rule, campaign.sponsor, member_key)
        if not verdict.ok:
            return campaign, rule, verdict, None
        key = self._keys.key(campaign.spec.id)
        return campaign, rule, verdict, digests(key, campaign.spec.id, rule, verdict, evidence)

    async def award(
        self,
        campaign_id: str,
        rule_id: str,
        evidence: Any,
        member_key: str,
        points: int | None = None,
    ) -> AwardOutcome:
        """Award ``points`` (default: the rule's) for ``evidence`` to the member's campaign key."""
        campaign, rule, verdict, found = await self.prepare(
            campaign_id, rule_id, evidence, member_key
        )
        spec = campaign.spec
        if found is None:
            return self._refused(spec, rule.id, verdict)
        amount = rule.points if points is None else points
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= 10**9:
            raise InvalidInput("points must be a whole number between 1 and 10**9")
        cosign = Cosignature(b"", b"")
        if spec.auditor is not None:
            if self._cosigner is None:
                raise InvalidInput(f"campaign {spec.id} needs a co-signature by {spec.auditor}")
            answer = await self._cosigner.cosign(
                campaign, rule, evidence, member_key, amount, found
            )
            if isinstance(answer, EvidenceVerdict):
                return self._refused(spec, rule.id, answer)
            cosign = answer
        args = [
            spec.id,
            member_key,
            rule.id,
            found.nullifier,
            amount,
            found.evidence_digest,
            found.holder_tag,
            cosign.identity,
            cosign.signature,
            self._tranche(spec),
        ]
        # An award that meets another's debit of its tranche in one block (another awarder, or
        # a spill near exhaustion) fails MVCC; the retry re-simulates on the new state.
        # Concurrent awards share transactions (``award_batch``), each with its own result.
        done = await self.batcher.submit(args)
        result: dict[str, Any] = done.result
        if result["status"] == "awarded":
            return AwardOutcome(
                "awarded",
                points=amount,
                balance=int(result["balance"]),
                tx_id=done.tx_id,
                pseudonym=str(result["pseudonym"]),
            )
        # The contract's own event (reward_rejected) reaches ``events`` from the commit.
        return AwardOutcome(
            "rejected",
            RejectCode(result["code"]),
            f"refused by the contract: {result['code']}",
            cap=result.get("cap"),
            tx_id=done.tx_id,
        )

    async def check(
        self,
        campaign_id: str,
        rule_id: str,
        evidence: Any,
        member_key: str,
        points: int | None = None,
        at: int | None = None,
    ) -> AwardOutcome:
        """Dry run: would this award pass now (or at ``at`` ms), and why not? Writes nothing."""
        campaign, rule, verdict, found = await self.prepare(
            campaign_id, rule_id, evidence, member_key
        )
        if found is None:
            assert verdict.code is not None
            return AwardOutcome("rejected", verdict.code, verdict.message)
        amount = rule.points if points is None else points
        when = at if at is not None else _now_ms()
        args = [campaign.spec.id, member_key, rule.id, found.nullifier, amount, found.holder_tag]
        result = await self.gateway.evaluate(NAMESPACE, "check_award", [*args, when])
        if result["status"] == "awarded":
            return AwardOutcome("awarded", points=amount, balance=int(result["balance"]))
        return AwardOutcome("rejected", RejectCode(result["code"]), cap=result.get("cap"))


def _now_ms() -> int:
    return int(time.time() * 1000)
