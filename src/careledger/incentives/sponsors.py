"""The sponsor's and the auditor's operations: being allowed to sponsor (a governance motion),
creating campaigns, expiring points, claw-backs and freezes.

Thin wrappers over the ``incentives`` contract that validate input before anything is
submitted (a bad spec is an :class:`~careledger.errors.InvalidInput`, nothing is written).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from careledger.contracts.incentives import NAMESPACE
from careledger.contracts.incentives.terms import CampaignSpec, check_spec
from careledger.errors import InvalidInput
from careledger.node.gateway import Gateway


def parse_spec(data: Mapping[str, Any]) -> CampaignSpec:
    """A campaign spec from JSON-like data; raises InvalidInput naming the bad field."""
    try:
        spec = msgspec.convert(dict(data), CampaignSpec, strict=True)
    except (msgspec.ValidationError, TypeError) as exc:
        raise InvalidInput(f"campaign spec: {exc}") from exc
    check_spec(spec)
    return spec


async def allow_sponsor(admins: Sequence[Gateway], org: str, ceiling_cents: int) -> dict[str, Any]:
    """Propose with the first admin and approve with the others until the motion applies."""
    if not admins:
        raise InvalidInput("allowing a sponsor needs at least one organisation admin")
    done = await admins[0].submit(NAMESPACE, "propose_sponsor", [org, ceiling_cents])
    motion: dict[str, Any] = done.result
    for admin in admins[1:]:
        if motion["status"] == "applied":
            break
        await _caught_up(admin, admins[0])
        motion = (await admin.submit(NAMESPACE, "approve_sponsor", [motion["id"]])).result
    return motion


async def _caught_up(gateway: Gateway, reference: Gateway) -> None:
    """Wait (bounded) until ``gateway``'s peer has what ``reference``'s peer committed."""
    for _ in range(2000):
        if gateway.peer.height() >= reference.peer.height():
            return
        await asyncio.sleep(0.005)


async def create_campaign(admin: Gateway, spec: CampaignSpec | Mapping[str, Any]) -> dict[str, Any]:
    """Create a campaign and escrow its budget (the sponsor organisation's admin)."""
    typed = spec if isinstance(spec, CampaignSpec) else parse_spec(spec)
    check_spec(typed)
    done = await admin.submit(NAMESPACE, "create_campaign", [msgspec.to_builtins(typed)])
    result: dict[str, Any] = done.result
    return result


async def expire(sponsor: Gateway, campaign: str, pseudonyms: Sequence[str]) -> int:
    """Burn the balances of ``pseudonyms`` past the points' validity; returns points burnt."""
    burnt = 0
    for pseudonym in pseudonyms:
        done = await sponsor.submit(NAMESPACE, "expire", [campaign, pseudonym])
        burnt += int(done.result["points"])
    return burnt


async def claw_back(
    auditor: Gateway, campaign: str, pseudonym: str, points: int, reason: str
) -> dict[str, Any]:
    done = await auditor.submit(NAMESPACE, "claw_back", [campaign, pseudonym, points, reason])
    result: dict[str, Any] = done.result
    return result


async def freeze(auditor: Gateway, campaign: str, pseudonym: str, reason: str) -> dict[str, Any]:
    """Freeze a member's account, or the campaign when ``pseudonym`` is empty."""
    done = await auditor.submit(NAMESPACE, "freeze", [campaign, pseudonym, reason])
    result: dict[str, Any] = done.result
    return result
