"""Submitting ``incentives`` transactions directly (the evidence checks are tested apart)."""

from __future__ import annotations

import os
import time
from typing import Any

from careledger.contracts.incentives.terms import CampaignSpec, CatalogueItem, ProgramType, Rule
from careledger.node.gateway import Gateway

DAY_MS = 86_400_000


def spec(
    campaign: str,
    *,
    program: ProgramType = "value_based",
    budget: int = 10_000,
    rule_points: int = 100,
    yearly_cap_cents: int | None = 1_000,
    shards: int = 8,
    valid_for_ms: int = 30 * DAY_MS,
    auditor: str | None = None,
    rules: list[Rule] | None = None,
) -> CampaignSpec:
    now = int(time.time() * 1000)
    return CampaignSpec(
        id=campaign,
        program=program,
        point_value_cents=1,
        budget_points=budget,
        rules=rules or [Rule("visit", rule_points, credential_type="ImmunizationCredential")],
        catalogue=[CatalogueItem("mug", 50, 50)],
        start=now - DAY_MS,
        end=now + valid_for_ms,
        points_valid_until=now + valid_for_ms,
        auditor=auditor,
        yearly_cap_cents=yearly_cap_cents,
        shards=shards,
    )


def nullifier() -> str:
    return os.urandom(32).hex()


async def award(
    gateway: Gateway,
    campaign: str,
    member_key: str,
    points: int,
    *,
    rule: str = "visit",
    nullifier_hex: str | None = None,
    tag: str | None = None,
    retries: int = 3,
) -> dict[str, Any]:
    args = [
        campaign,
        member_key,
        rule,
        nullifier_hex or nullifier(),
        points,
        os.urandom(32).hex(),
        tag or os.urandom(32).hex(),
        b"",
        b"",
        -1,
    ]
    done = await gateway.submit("incentives", "award", args, retries=retries)
    result: dict[str, Any] = done.result
    return result


def batch_item(
    member_key: str,
    points: int,
    *,
    rule: str = "visit",
    nullifier_hex: str | None = None,
    tag: str | None = None,
) -> list[Any]:
    """One award of an ``award_batch`` (the arguments of ``award`` after the campaign id)."""
    return [
        member_key,
        rule,
        nullifier_hex or nullifier(),
        points,
        os.urandom(32).hex(),
        tag or os.urandom(32).hex(),
        b"",
        b"",
        -1,
    ]


async def award_batch(
    gateway: Gateway, campaign: str, items: list[list[Any]], *, retries: int = 3
) -> tuple[str, list[dict[str, Any]]]:
    """Several awards in one transaction: (its id, one result per award)."""
    done = await gateway.submit("incentives", "award_batch", [campaign, items], retries=retries)
    return done.tx_id, list(done.result)
