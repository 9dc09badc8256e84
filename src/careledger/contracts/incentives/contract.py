"""The ``incentives`` contract: sponsor campaigns of account-bound care points (ERC-1155 style,
token id = campaign id), with budgets, caps and no double reward.

State (all under the contract's namespace; see :mod:`careledger.contracts.incentives.terms`):

* ``sponsor/<org>`` and ``motion/<id>`` — who may fund campaigns: a governance motion approved
  by admins of a majority of the consortium's organisations, with a ceiling in cents.
* ``campaign/<id>`` — the terms, the sponsor, a freeze. Written at creation and by a freeze only.
* ``tranche/<id>/<k>`` — the escrowed budget in ``shards`` tranches. An award debits the tranche
  its nullifier points to (spilling to the next ones if it runs dry), so concurrent awards touch
  different keys and do not serialise through MVCC, while every debit is a checked
  read-modify-write: a budget can never be exceeded. There is no supply counter (as in
  :mod:`careledger.contracts.tokens`): reports sum the keys in a query.
* ``member/<id>/<pseudonym>`` — one member's account: balance and the totals that make
  conservation checkable (awarded = balance + redeemed + expired + clawed back), the year's cap
  use, research visits, a freeze. The pseudonym is the SHA-256 of the member's per-campaign public
  key, which the member's wallet derives from its secret and the campaign id: two campaigns see
  two unrelated keys.
* ``award/<id>/<nullifier>`` — a used nullifier and the award it paid (rule, points, evidence
  digest): the auditor's view. ``holder/<id>/<tag>`` binds one evidence holder to one pseudonym.

**Invalid is a result.** A malformed request (unknown campaign or rule, amounts out of range, a
wrong signature or co-signature, a caller without the right) raises: nothing is ordered. A
well-formed award or redemption the rules refuse — evidence already rewarded, budget exhausted,
a cap reached, a frozen account — is *recorded*: the transaction commits with no writes, its
result is ``{"status": "rejected", "code": …}`` and it emits ``incentives.reward_rejected``.
The ``check_award`` / ``check_redeem`` queries run the same decision without writing.

**Co-signing.** Endorsement policies are per contract definition, so ``sponsor AND auditor``
cannot be a per-campaign policy. Where a campaign names an auditor organisation, every award
carries a co-signature by a current member of that organisation over :func:`award_payload`,
checked here against the auditor's root key and revocations read from ``_gov``; the creator must
be a member of the sponsor. No transfer function exists: points are account-bound.

The queries (campaigns, accounts, reports, the auditor view) are in
:mod:`careledger.contracts.incentives.views`; terms, caps and signed payloads in
:mod:`careledger.contracts.incentives.terms`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query, to_plain
from careledger.contracts.incentives.batch import AwardItem, check_batch
from careledger.contracts.incentives.terms import (
    MAX_POINTS,
    AwardRecord,
    Campaign,
    CampaignSpec,
    FreezeReason,
    HolderBinding,
    MemberAccount,
    Sponsor,
    SponsorMotion,
    Tranche,
    award_payload,
    check_spec,
    item_of,
    pseudonym_of,
    redeem_payload,
    rule_of,
    year_of,
    yearly_cap_cents,
)
from careledger.contracts.incentives.views import CampaignViews
from careledger.contracts.phi_guard import HexDigest, OrgId, check_struct, require
from careledger.contracts.values import decode_value
from careledger.crypto.keys import verify
from careledger.errors import ContractError, EncodingError, InvalidInput
from careledger.identity.msp import MemberCert, OrgDef, Role, parse_cert

NAMESPACE = "incentives"
FREEZE_REASONS = tuple(FreezeReason.__args__)  # type: ignore[attr-defined]


class _Reader(Protocol):
    """What a decision reads: state and the time (a stub, or a dry run's :class:`_At`)."""

    timestamp: int

    def get(self, key: str) -> Any | None: ...


def _rejected(code: str, **detail: Any) -> dict[str, Any]:
    return {"status": "rejected", "code": code, **detail}


class Incentives(CampaignViews, Contract):
    name = NAMESPACE
    version = "1.0"
    schemas = {
        "sponsor": Sponsor,
        "motion": SponsorMotion,
        "campaign": Campaign,
        "tranche": Tranche,
        "member": MemberAccount,
        "award": AwardRecord,
        "holder": HolderBinding,
    }

    # -- who may sponsor: governance --------------------------------------------------------
    def _admin(self, stub: Stub) -> str:
        if stub.creator.role != Role.ADMIN:
            raise ContractError("only an organisation admin may do this")
        return stub.creator.org

    @invoke
    def propose_sponsor(self, stub: Stub, org: str, ceiling_cents: int) -> dict[str, Any]:
        """Open a motion allowing ``org`` to fund campaigns worth up to ``ceiling_cents``."""
        proposer = self._admin(stub)
        require(org, OrgId, "org")
        if not 0 < ceiling_cents <= 10**12:
            raise InvalidInput("ceiling_cents must be between 1 and 10**12")
        if stub.read_namespace("_gov", f"org/{org}") is None:
            raise InvalidInput(f"{org!r} is not an organisation of the consortium")
        motion = SponsorMotion(
            stub.tx_id, org, ceiling_cents, proposer, [proposer], "open", stub.timestamp
        )
        return self._count(stub, motion)

    @invoke
    def approve_sponsor(self, stub: Stub, motion_id: str) -> dict[str, Any]:
        org = self._admin(stub)
        require(motion_id, HexDigest, "motion_id")
        motion: SponsorMotion | None = stub.get(f"motion/{motion_id}")
        if motion is None:
            raise ContractError(f"no sponsor motion {motion_id}")
        if motion.status != "open" or org in motion.approvals:
            raise ContractError(f"motion {motion_id} is {motion.status}; {org} cannot approve it")
        return self._count(
            stub, msgspec.structs.replace(motion, approvals=[*motion.approvals, org])
        )

    def _count(self, stub: Stub, motion: SponsorMotion) -> dict[str, Any]:
        orgs = {k.split("/", 1)[1] for k, _ in stub.range_namespace("_gov", "org/", "org0")}
        if len([o for o in motion.approvals if o in orgs]) >= len(orgs) // 2 + 1:
            current: Sponsor | None = stub.get(f"sponsor/{motion.org}")
            committed = 0 if current is None else current.committed_cents
            stub.put(
                f"sponsor/{motion.org}",
                Sponsor(motion.org, motion.ceiling_cents, committed, motion.id),
            )
            motion = msgspec.structs.replace(motion, status="applied")
            stub.emit("incentives.sponsor_allowed", {"org": motion.org})
        stub.put(f"motion/{motion.id}", motion)
        return to_plain(motion)  # type: ignore[no-any-return]

    # -- campaigns --------------------------------------------------------------------------
    @invoke
    def create_campaign(self, stub: Stub, spec: CampaignSpec) -> dict[str, Any]:
        """Escrow the budget in tranches and open the campaign (sponsor admin)."""
        org = self._admin(stub)
        check_struct(spec)
        check_spec(spec)
        sponsor: Sponsor | None = stub.get(f"sponsor/{org}")
        if sponsor is None:
            raise ContractError(f"{org} is not allowed to sponsor campaigns (governance)")
        if stub.get(f"campaign/{spec.id}") is not None:
            raise ContractError(f"campaign {spec.id} already exists")
        if spec.auditor is not None and stub.read_namespace("_gov", f"org/{spec.auditor}") is None:
            raise InvalidInput(f"auditor {spec.auditor!r} is not an organisation of the consortium")
        cents = spec.budget_points * spec.point_value_cents
        if sponsor.committed_cents + cents > sponsor.ceiling_cents:
            raise ContractError(
                f"a budget of {cents} cents exceeds {org}'s remaining sponsor ceiling of "
                f"{sponsor.ceiling_cents - sponsor.committed_cents} cents"
            )
        stub.put(
            f"sponsor/{org}",
            msgspec.structs.replace(sponsor, committed_cents=sponsor.committed_cents + cents),
        )
        stub.put(f"campaign/{spec.id}", Campaign(spec, org, stub.timestamp, stub.tx_id))
        share, extra = divmod(spec.budget_points, spec.shards)
        for k in range(spec.shards):
            stub.put(f"tranche/{spec.id}/{k:04d}", Tranche(share + (1 if k < extra else 0)))
        stub.emit(
            "incentives.campaign_created",
            {"campaign": spec.id, "sponsor": org, "budget_points": spec.budget_points},
        )
        return {"campaign": spec.id, "budget_points": spec.budget_points, "transferable": False}

    # -- awards -----------------------------------------------------------------------------
    def _decide_award(
        self,
        stub: _Reader,
        campaign: Campaign,
        member_key: str,
        rule_id: str,
        nullifier: str,
        points: int,
        holder_tag: str,
        tranche: int = -1,
    ) -> tuple[dict[str, Any], list[tuple[str, msgspec.Struct]]]:
        """The outcome of an award and the writes it makes (none when rejected)."""
        spec = campaign.spec
        require(member_key, HexDigest, "member_key")
        require(nullifier, HexDigest, "nullifier")
        require(holder_tag, HexDigest, "holder_tag")
        if not isinstance(points, int) or not 0 < points <= MAX_POINTS:
            raise InvalidInput(f"points must be between 1 and {MAX_POINTS}")
        rule = rule_of(spec, rule_id)
        pseudonym = pseudonym_of(bytes.fromhex(member_key))
        if campaign.frozen is not None:
            return _rejected("campaign_frozen"), []
        if not spec.start <= stub.timestamp < spec.end:
            return _rejected("campaign_closed"), []
        if stub.get(f"award/{spec.id}/{nullifier}") is not None:
            return _rejected("evidence_replayed"), []
        bound: HolderBinding | None = stub.get(f"holder/{spec.id}/{holder_tag}")
        if bound is not None and bound.pseudonym != pseudonym:
            return _rejected("holder_mismatch"), []
        account: MemberAccount = stub.get(f"member/{spec.id}/{pseudonym}") or MemberAccount(
            member_key
        )
        if account.frozen is not None:
            return _rejected("member_frozen"), []
        value = points * spec.point_value_cents
        if points > rule.points:
            return _rejected("cap_exceeded", cap="rule"), []
        if rule.service_value_cents is not None and value > rule.service_value_cents:
            return _rejected("cap_exceeded", cap="service_value"), []
        if rule.visit is not None and rule.visit != account.visits + 1:
            return _rejected("visit_out_of_order"), []
        year = year_of(stub.timestamp)
        used = account.cap_used_cents if account.cap_year == year else 0
        cap = yearly_cap_cents(spec)
        if cap is not None and used + value > cap:
            return _rejected("cap_exceeded", cap="yearly"), []
        debits = self._debit(stub, spec, nullifier, points, tranche)
        if debits is None:
            return _rejected("budget_exhausted"), []
        account = msgspec.structs.replace(
            account,
            balance=account.balance + points,
            awarded=account.awarded + points,
            cap_year=year,
            cap_used_cents=used + value,
            visits=account.visits + (1 if rule.visit is not None else 0),
        )
        writes: list[tuple[str, msgspec.Struct]] = list(debits)
        writes.append((f"member/{spec.id}/{pseudonym}", account))
        if bound is None:
            writes.append((f"holder/{spec.id}/{holder_tag}", HolderBinding(pseudonym)))
        outcome = {
            "status": "awarded",
            "campaign": spec.id,
            "pseudonym": pseudonym,
            "rule": rule.id,
            "points": points,
            "balance": account.balance,
        }
        return outcome, writes

    def _debit(
        self, stub: _Reader, spec: CampaignSpec, nullifier: str, points: int, tranche: int
    ) -> list[tuple[str, msgspec.Struct]] | None:
        """Tranche debits covering ``points``, from tranche ``tranche`` (the awarder's hint:
        it gives its concurrent awards different tranches) or, for -1, the nullifier's."""
        if not isinstance(tranche, int) or not -1 <= tranche < 2**31:
            raise InvalidInput("tranche is -1 or a tranche number")
        first = (tranche if tranche >= 0 else int(nullifier[:8], 16)) % spec.shards
        need, debits = points, list[tuple[str, msgspec.Struct]]()
        for step in range(spec.shards):
            key = f"tranche/{spec.id}/{(first + step) % spec.shards:04d}"
            held: Tranche | None = stub.get(key)
            if held is None or held.remaining == 0:
                continue
            take = min(need, held.remaining)
            debits.append((key, Tranche(held.remaining - take)))
            need -= take
            if need == 0:
                return debits
        return None

    @invoke
    def award(
        self,
        stub: Stub,
        campaign_id: str,
        member_key: str,
        rule: str,
        nullifier: str,
        points: int,
        evidence_digest: str,
        holder_tag: str,
        cosigner: bytes,
        cosignature: bytes,
        tranche: int,
    ) -> dict[str, Any]:
        """Mint ``points`` from the budget to a member for verified evidence (sponsor's member;
        co-signed by the auditor's member where the campaign names one, else empty bytes).
        ``tranche``: where the budget debit starts (-1: the nullifier decides)."""
        campaign = self._campaign(stub, campaign_id)
        item = (member_key, rule, nullifier, points, evidence_digest, holder_tag)
        return self._award(stub, campaign, *item, cosigner, cosignature, tranche)

    @invoke
    def award_batch(
        self, stub: Stub, campaign_id: str, awards: list[AwardItem]
    ) -> list[dict[str, Any]]:
        """Several awards of one campaign in one transaction, each decided as ``award`` would
        (after the ones before it), each with its own result and event; a malformed award
        fails the whole batch (nothing is ordered). See :mod:`.batch`."""
        campaign = self._campaign(stub, campaign_id)
        check_batch(awards)
        cosigners: dict[bytes, MemberCert] = {}  # checked once per transaction
        return [
            self._award(stub, campaign, *msgspec.structs.astuple(item), cosigners=cosigners)
            for item in awards
        ]

    def _award(
        self,
        stub: Stub,
        campaign: Campaign,
        member_key: str,
        rule: str,
        nullifier: str,
        points: int,
        evidence_digest: str,
        holder_tag: str,
        cosigner: bytes,
        cosignature: bytes,
        tranche: int,
        *,
        cosigners: dict[bytes, MemberCert] | None = None,
    ) -> dict[str, Any]:
        campaign_id = campaign.spec.id
        require(evidence_digest, HexDigest, "evidence_digest")
        if stub.creator.org != campaign.sponsor:
            raise ContractError(f"only {campaign.sponsor} awards points of {campaign_id}")
        outcome, writes = self._decide_award(
            stub, campaign, member_key, rule, nullifier, points, holder_tag, tranche
        )
        cosigned = auditor = campaign.spec.auditor
        if auditor is not None:
            pseudonym = pseudonym_of(bytes.fromhex(member_key))
            payload = award_payload(
                campaign_id, pseudonym, rule, nullifier, points, evidence_digest
            )
            cert = (cosigners or {}).get(cosigner)
            if cert is None:
                cert = self._cosigner_cert(stub, auditor, cosigner)
            if not verify(cert.public_key, payload, cosignature):
                raise ContractError(f"the co-signature by {auditor}.{cert.name} does not verify")
            if cosigners is not None:
                cosigners[cosigner] = cert
        if outcome["status"] != "awarded":
            stub.emit(
                "incentives.reward_rejected",
                {"campaign": campaign_id, "rule": rule, "code": outcome["code"]},
            )
            return outcome
        for key, value in writes:
            stub.put(key, value)
        record = AwardRecord(
            outcome["pseudonym"],
            rule,
            points,
            evidence_digest,
            stub.timestamp,
            stub.tx_id,
            cosigned,
        )
        stub.put(f"award/{campaign_id}/{nullifier}", record)
        stub.emit(
            "incentives.reward_awarded",
            {
                "campaign": campaign_id,
                "pseudonym": outcome["pseudonym"],
                "rule": rule,
                "points": points,
            },
        )
        return outcome

    def _cosigner_cert(self, stub: Stub, auditor: str, identity: bytes) -> MemberCert:
        """The co-signer's certificate: a current member of ``auditor`` (its root signed it,
        not revoked), read from ``_gov``; raises otherwise."""
        raw = stub.read_namespace("_gov", f"org/{auditor}")
        if raw is None:
            raise ContractError(f"auditor {auditor} is not an organisation of the consortium")
        org: OrgDef = decode_value(raw, OrgDef)
        cert = _certified(identity, org.root_key)
        if cert is None or cert.org != auditor:
            raise ContractError(
                f"the award needs a co-signature by a member of {auditor} (certified by its root)"
            )
        if stub.read_namespace("_gov", f"revoked/{auditor}/{cert.serial}") is not None:
            raise ContractError(f"the co-signer {auditor}.{cert.name} is revoked")
        return cert

    # -- redemption, expiry, claw-back, freeze ----------------------------------------------
    def _decide_redeem(
        self, stub: _Reader, campaign: Campaign, account: MemberAccount, item_id: str, quantity: int
    ) -> dict[str, Any]:
        if not isinstance(quantity, int) or not 0 < quantity <= 100:
            raise InvalidInput("quantity must be between 1 and 100")
        item = item_of(campaign.spec, item_id)
        cost = item.points * quantity
        if campaign.frozen is not None:
            return _rejected("campaign_frozen")
        if account.frozen is not None:
            return _rejected("member_frozen")
        if stub.timestamp >= campaign.spec.points_valid_until:
            return _rejected("points_expired")
        if account.balance < cost:
            return _rejected("insufficient_balance", balance=account.balance, cost=cost)
        return {"status": "redeemed", "item": item.id, "quantity": quantity, "points": cost}

    @invoke
    def redeem(
        self,
        stub: Stub,
        campaign_id: str,
        pseudonym: str,
        item: str,
        quantity: int,
        signature: bytes,
    ) -> dict[str, Any]:
        """Burn points for catalogue items, signed by the member's per-campaign key."""
        campaign = self._campaign(stub, campaign_id)
        account = self._account(stub, campaign_id, pseudonym)
        payload = redeem_payload(campaign_id, pseudonym, item, quantity, account.redemptions)
        if not verify(bytes.fromhex(account.member_key), payload, signature):
            raise ContractError("the redemption is not signed by the member's campaign key")
        outcome = self._decide_redeem(stub, campaign, account, item, quantity)
        if outcome["status"] != "redeemed":
            stub.emit(
                "incentives.reward_rejected",
                {"campaign": campaign_id, "item": item, "code": outcome["code"]},
            )
            return outcome
        cost = int(outcome["points"])
        account = msgspec.structs.replace(
            account,
            balance=account.balance - cost,
            redeemed=account.redeemed + cost,
            redemptions=account.redemptions + 1,
        )
        stub.put(f"member/{campaign_id}/{pseudonym}", account)
        stub.emit(
            "incentives.redeemed",
            {"campaign": campaign_id, "pseudonym": pseudonym, "item": item, "points": cost},
        )
        return {**outcome, "balance": account.balance}

    @invoke
    def expire(self, stub: Stub, campaign_id: str, pseudonym: str) -> dict[str, Any]:
        """Burn a member's balance once the campaign's points are past their validity."""
        campaign = self._campaign(stub, campaign_id)
        if stub.creator.org != campaign.sponsor:
            raise ContractError(f"only {campaign.sponsor} expires points of {campaign_id}")
        if stub.timestamp < campaign.spec.points_valid_until:
            raise ContractError(f"points of {campaign_id} are still valid")
        account = self._account(stub, campaign_id, pseudonym)
        burnt = account.balance
        if burnt:
            stub.put(
                f"member/{campaign_id}/{pseudonym}",
                msgspec.structs.replace(account, balance=0, expired=account.expired + burnt),
            )
            stub.emit(
                "incentives.expired",
                {"campaign": campaign_id, "pseudonym": pseudonym, "points": burnt},
            )
        return {"status": "expired", "points": burnt}

    def _overseer(self, stub: Stub, campaign: Campaign) -> None:
        """The auditor organisation; where none is named, the sponsor's admin."""
        auditor = campaign.spec.auditor
        if auditor is not None and stub.creator.org != auditor:
            raise ContractError(f"only auditor {auditor} may claw back or freeze")
        if auditor is None and (
            stub.creator.org != campaign.sponsor or stub.creator.role != Role.ADMIN
        ):
            raise ContractError(f"only {campaign.sponsor}'s admin may claw back or freeze")

    def _reason(self, reason: str) -> FreezeReason:
        if reason not in FREEZE_REASONS:
            raise InvalidInput(f"reason must be one of {list(FREEZE_REASONS)}")
        return reason  # type: ignore[return-value]

    @invoke
    def claw_back(
        self, stub: Stub, campaign_id: str, pseudonym: str, points: int, reason: str
    ) -> dict[str, Any]:
        campaign = self._campaign(stub, campaign_id)
        self._overseer(stub, campaign)
        why = self._reason(reason)
        account = self._account(stub, campaign_id, pseudonym)
        if not isinstance(points, int) or not 0 < points <= account.balance:
            raise InvalidInput(f"points must be between 1 and the balance ({account.balance})")
        stub.put(
            f"member/{campaign_id}/{pseudonym}",
            msgspec.structs.replace(
                account, balance=account.balance - points, clawed_back=account.clawed_back + points
            ),
        )
        stub.emit(
            "incentives.clawed_back",
            {"campaign": campaign_id, "pseudonym": pseudonym, "points": points, "reason": why},
        )
        return {"status": "clawed_back", "points": points, "balance": account.balance - points}

    @invoke
    def freeze(self, stub: Stub, campaign_id: str, pseudonym: str, reason: str) -> dict[str, Any]:
        """Freeze one member's account, or the whole campaign when ``pseudonym`` is empty."""
        return self._set_freeze(stub, campaign_id, pseudonym, self._reason(reason))

    @invoke
    def unfreeze(self, stub: Stub, campaign_id: str, pseudonym: str) -> dict[str, Any]:
        return self._set_freeze(stub, campaign_id, pseudonym, None)

    def _set_freeze(
        self, stub: Stub, campaign_id: str, pseudonym: str, reason: FreezeReason | None
    ) -> dict[str, Any]:
        campaign = self._campaign(stub, campaign_id)
        self._overseer(stub, campaign)
        if pseudonym:
            account = self._account(stub, campaign_id, pseudonym)
            stub.put(
                f"member/{campaign_id}/{pseudonym}",
                msgspec.structs.replace(account, frozen=reason),
            )
        else:
            stub.put(f"campaign/{campaign_id}", msgspec.structs.replace(campaign, frozen=reason))
        name = "incentives.frozen" if reason else "incentives.unfrozen"
        stub.emit(name, {"campaign": campaign_id, "pseudonym": pseudonym, "reason": reason})
        return {"status": "frozen" if reason else "active", "reason": reason}

    @query
    def check_award(
        self,
        stub: Stub,
        campaign_id: str,
        member_key: str,
        rule: str,
        nullifier: str,
        points: int,
        holder_tag: str,
        at: int,
    ) -> dict[str, Any]:
        """Whether an award would pass at ``at`` (ms), and why not — nothing is written."""
        campaign = self._campaign(stub, campaign_id)
        dry = _At(stub, at)
        return self._decide_award(dry, campaign, member_key, rule, nullifier, points, holder_tag)[0]

    @query
    def check_redeem(
        self, stub: Stub, campaign_id: str, pseudonym: str, item: str, quantity: int, at: int
    ) -> dict[str, Any]:
        """Whether a redemption would pass at ``at`` (ms), and why not — nothing is written."""
        campaign = self._campaign(stub, campaign_id)
        account = self._account(stub, campaign_id, pseudonym)
        return self._decide_redeem(_At(stub, at), campaign, account, item, quantity)


@lru_cache(maxsize=1024)
def _certified(identity: bytes, root_key: bytes) -> MemberCert | None:
    """The certificate in ``identity`` if ``root_key`` signed it (a pure function of its
    arguments, so caching it keeps endorsement deterministic; auditors co-sign with few keys)."""
    try:
        cert, body, root_signature = parse_cert(identity)
    except EncodingError:
        return None
    return cert if verify(root_key, body, root_signature) else None


class _At:
    """A stub whose timestamp is the dry run's ``at`` (queries have no proposal time)."""

    def __init__(self, stub: Stub, at: int) -> None:
        if not isinstance(at, int) or not 0 <= at <= 253_402_300_799_999:
            raise InvalidInput("at is a time in ms since the epoch")
        self._stub = stub
        self.timestamp = at

    def get(self, key: str) -> Any | None:
        return self._stub.get(key)
