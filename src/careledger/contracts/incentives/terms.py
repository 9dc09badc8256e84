"""The terms of incentive campaigns: program types, rules, caps, and the values the
``incentives`` contract keeps in the world state.

Every string field has an identifier shape or comes from a small vocabulary, so the strict PHI
guard (:func:`careledger.contracts.phi_guard.check_schema`) accepts these types: a campaign can
hold pseudonyms, rule ids, nullifiers, digests and amounts, never a code or a value from the
evidence. Money is integer cents; points are integers with a declared retail value in cents.

Program types and the caps the contract enforces (see docs/incentives.md for the rules behind
them):

* ``nominal`` — nominal-value engagement: at most :data:`NOMINAL_ITEM_CENTS` retail value per
  award and per catalogue item, and :data:`NOMINAL_YEAR_CENTS` per member per year.
* ``value_based`` — patient engagement tied to a care plan: ``yearly_cap_cents`` is required.
* ``medicare_advantage`` — each rule declares ``service_value_cents``; an award is worth at
  most the value of the service it rewards.
* ``research`` — study participation on an IRB-approved schedule: every rule is one ``visit``
  (1, 2, … n), visits accrue in order, and the year's total is the schedule's total.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

from careledger.contracts.payer.values import BillingCode
from careledger.contracts.phi_guard import HexDigest, Millis, OrgId, check_schema
from careledger.crypto import encoding
from careledger.crypto.hashing import sha256
from careledger.errors import InvalidInput

NOMINAL_ITEM_CENTS = 1_500
"""$15: the retail value of one nominal-value item (OIG policy on nominal value)."""
NOMINAL_YEAR_CENTS = 7_500
"""$75: the nominal-value aggregate per member per year."""
MAX_POINTS = 1_000_000_000
MAX_SHARDS = 1024

ProgramType = Literal["nominal", "value_based", "medicare_advantage", "research"]
EvidenceKind = Literal["credential", "consent", "paid_claim"]
FreezeReason = Literal[
    "evidence_revoked",
    "fraud_suspected",
    "ineligible_member",
    "sponsor_request",
    "audit_finding",
    "program_violation",
]
CampaignId = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]{2,39}$")]
RuleId = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
ItemId = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
CredentialTypeName = Annotated[str, msgspec.Meta(pattern=r"^[A-Z][A-Za-z0-9]{2,63}$")]
Points = Annotated[int, msgspec.Meta(ge=1, le=MAX_POINTS)]
Amount = Annotated[int, msgspec.Meta(ge=0, le=10**15)]
Cents = Annotated[int, msgspec.Meta(ge=1, le=100_000_000)]


class Rule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What earns points: one kind of verifiable evidence, at most ``points`` per award."""

    id: RuleId
    points: Points
    evidence: EvidenceKind = "credential"
    credential_type: CredentialTypeName | None = None
    """For ``credential`` evidence: the VC type accepted (issuers: the trust registry)."""
    max_age_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 365
    """Freshness window: evidence older than this (by its validFrom) is refused."""
    once_per_member: bool = True
    """One award per member for this rule, whatever credential shows it (a flu shot per
    season); otherwise one per piece of evidence."""
    service_value_cents: Cents | None = None
    visit: Annotated[int, msgspec.Meta(ge=1, le=64)] | None = None
    codes: Annotated[list[BillingCode], msgspec.Meta(min_length=1, max_length=64)] | None = None
    """For ``paid_claim`` evidence: the billing codes accepted, as the ``claims`` contract
    writes them (``HC:G0439``): a claim the sponsor paid with a line of one of them. Public
    campaign terms, never evidence: the claim itself stays a keyed digest on chain."""


class CatalogueItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An in-kind item members redeem points for (never cash, never a cash equivalent)."""

    id: ItemId
    points: Points
    retail_cents: Cents


class CampaignSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a sponsor asks for when it creates a campaign (token id = ``id``)."""

    id: CampaignId
    program: ProgramType
    point_value_cents: Cents
    budget_points: Points
    rules: Annotated[list[Rule], msgspec.Meta(min_length=1, max_length=16)]
    catalogue: Annotated[list[CatalogueItem], msgspec.Meta(min_length=1, max_length=32)]
    start: Millis
    end: Millis
    points_valid_until: Millis
    auditor: OrgId | None = None
    yearly_cap_cents: Cents | None = None
    shards: Annotated[int, msgspec.Meta(ge=1, le=MAX_SHARDS)] = 64
    """Budget tranches: awards debit different tranches, so they do not conflict (MVCC)."""


class Campaign(msgspec.Struct, frozen=True):
    spec: CampaignSpec
    sponsor: OrgId
    created_at: Millis
    created_tx: HexDigest
    frozen: FreezeReason | None = None


class Tranche(msgspec.Struct, frozen=True):
    """One shard of a campaign's escrowed budget."""

    remaining: Amount


class MemberAccount(msgspec.Struct, frozen=True):
    """A member's account in one campaign, under the campaign's pairwise pseudonym."""

    member_key: HexDigest
    """The member's per-campaign public key (Ed25519, hex); the pseudonym is its digest."""
    balance: Amount = 0
    awarded: Amount = 0
    redeemed: Amount = 0
    expired: Amount = 0
    clawed_back: Amount = 0
    cap_year: Annotated[int, msgspec.Meta(ge=0, le=9999)] = 0
    cap_used_cents: Amount = 0
    visits: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0
    redemptions: Amount = 0
    """Sequence number of the member's signed redemptions (replay protection)."""
    frozen: FreezeReason | None = None


class AwardRecord(msgspec.Struct, frozen=True):
    """A used nullifier: the award it paid, for the auditor (keyed by the nullifier)."""

    pseudonym: HexDigest
    rule: RuleId
    points: Points
    evidence_digest: HexDigest
    awarded_at: Millis
    tx: HexDigest
    cosigned_by: OrgId | None = None


class HolderBinding(msgspec.Struct, frozen=True):
    """One pseudonym per evidence holder per campaign (tag: a keyed digest of the holder)."""

    pseudonym: HexDigest


class Sponsor(msgspec.Struct, frozen=True):
    """An organisation governance allowed to fund campaigns, up to ``ceiling_cents``."""

    org: OrgId
    ceiling_cents: Amount
    committed_cents: Amount
    via: HexDigest


class SponsorMotion(msgspec.Struct, frozen=True):
    id: HexDigest
    org: OrgId
    ceiling_cents: Amount
    proposer: OrgId
    approvals: list[OrgId]
    status: Literal["open", "applied"]
    created_at: Millis


_STATE: tuple[type[msgspec.Struct], ...] = (
    CampaignSpec, Campaign, Tranche, MemberAccount, AwardRecord, HolderBinding, Sponsor,
    SponsorMotion,
)  # fmt: skip
for _schema in _STATE:
    check_schema(_schema)


AWARD_DOMAIN = "careledger/incentives/award/v1"
REDEEM_DOMAIN = "careledger/incentives/redeem/v1"
PSEUDONYM_DOMAIN = b"careledger/incentives/pseudonym/v1"


def pseudonym_of(member_key: bytes) -> str:
    """The on-chain pseudonym of a member's per-campaign public key."""
    return sha256(PSEUDONYM_DOMAIN + member_key).hex()


def award_payload(
    campaign: str, pseudonym: str, rule: str, nullifier: str, points: int, evidence: str
) -> bytes:
    """What an auditor's member signs to co-sign one award."""
    return encoding.encode(
        {
            "domain": AWARD_DOMAIN,
            "campaign": campaign,
            "pseudonym": pseudonym,
            "rule": rule,
            "nullifier": nullifier,
            "points": points,
            "evidence": evidence,
        }
    )


def redeem_payload(campaign: str, pseudonym: str, item: str, quantity: int, sequence: int) -> bytes:
    """What the member's per-campaign key signs to redeem (``sequence``: its redemptions so
    far, so a signed redemption cannot be replayed)."""
    return encoding.encode(
        {
            "domain": REDEEM_DOMAIN,
            "campaign": campaign,
            "pseudonym": pseudonym,
            "item": item,
            "quantity": quantity,
            "sequence": sequence,
        }
    )


def year_of(millis: int) -> int:
    return datetime.fromtimestamp(millis / 1000, UTC).year


def yearly_cap_cents(spec: CampaignSpec) -> int | None:
    """The per-member yearly cap in cents, or None for no yearly cap beyond the budget."""
    if spec.program == "nominal":
        return min(spec.yearly_cap_cents or NOMINAL_YEAR_CENTS, NOMINAL_YEAR_CENTS)
    if spec.program == "research":
        return sum(r.points for r in spec.rules) * spec.point_value_cents
    return spec.yearly_cap_cents


def check_spec(spec: CampaignSpec) -> None:
    """Refuse a campaign whose terms break its program's rules; raises InvalidInput."""
    if not spec.start < spec.end <= spec.points_valid_until:
        raise InvalidInput("a campaign needs start < end <= points_valid_until")
    if spec.shards > spec.budget_points:
        raise InvalidInput("a campaign has at most one budget tranche per point")
    for ids, what in (
        ([r.id for r in spec.rules], "rule"),
        ([i.id for i in spec.catalogue], "item"),
    ):
        if len(set(ids)) != len(ids):
            raise InvalidInput(f"duplicate {what} id")
    for rule in spec.rules:
        if rule.evidence == "credential" and rule.credential_type is None:
            raise InvalidInput(f"rule {rule.id}: credential evidence names a credential_type")
        if rule.evidence != "credential" and rule.credential_type is not None:
            raise InvalidInput(f"rule {rule.id}: {rule.evidence} evidence takes no credential_type")
        if (rule.evidence == "paid_claim") != (rule.codes is not None):
            raise InvalidInput(f"rule {rule.id}: codes go with paid_claim evidence, and only there")
        if rule.codes is not None and len(set(rule.codes)) != len(rule.codes):
            raise InvalidInput(f"rule {rule.id}: duplicate code")
    value = spec.point_value_cents
    if spec.program == "nominal":
        for rule in spec.rules:
            if rule.points * value > NOMINAL_ITEM_CENTS:
                raise InvalidInput(f"rule {rule.id}: over $15 retail value per award (nominal)")
        for item in spec.catalogue:
            if item.retail_cents > NOMINAL_ITEM_CENTS:
                raise InvalidInput(f"item {item.id}: over $15 retail value (nominal)")
    elif spec.program == "value_based":
        if spec.yearly_cap_cents is None:
            raise InvalidInput("a value-based program declares yearly_cap_cents")
    elif spec.program == "medicare_advantage":
        for rule in spec.rules:
            if rule.service_value_cents is None:
                raise InvalidInput(f"rule {rule.id}: declares service_value_cents (MA rewards)")
            if rule.points * value > rule.service_value_cents:
                raise InvalidInput(f"rule {rule.id}: reward worth more than the service")
    elif spec.program == "research":
        visits = sorted(r.visit or 0 for r in spec.rules)
        if visits != list(range(1, len(spec.rules) + 1)):
            raise InvalidInput("a research schedule has one rule per visit, numbered 1..n")
        if spec.yearly_cap_cents is not None:
            raise InvalidInput("a research schedule's total is its cap (no yearly_cap_cents)")
    for item in spec.catalogue:
        if item.points * value < item.retail_cents:
            raise InvalidInput(f"item {item.id}: priced below its retail value in points")


def rule_of(spec: CampaignSpec, rule_id: str) -> Rule:
    for rule in spec.rules:
        if rule.id == rule_id:
            return rule
    raise InvalidInput(f"campaign {spec.id} has no rule {rule_id!r}")


def item_of(spec: CampaignSpec, item_id: str) -> CatalogueItem:
    for item in spec.catalogue:
        if item.id == item_id:
            return item
    raise InvalidInput(f"campaign {spec.id} has no catalogue item {item_id!r}")
