"""Reports per campaign, and the auditor's view of every award.

Figures come from the contract's ``totals`` query, which sums the member accounts and budget
tranches (no counters on chain) and suppresses the count of distinct members below 11 (a small
cell could single a member out). :meth:`CampaignReport.conserved` states the invariants the
property tests hold after every block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from careledger.contracts.incentives import NAMESPACE, SMALL_CELL
from careledger.node.gateway import Gateway


@dataclass(frozen=True, slots=True)
class CampaignReport:
    campaign: str
    funded: int
    awarded: int
    redeemed: int
    expired: int
    clawed_back: int
    balances: int
    remaining: int
    members: int | None
    """Distinct members rewarded; None when fewer than :data:`SMALL_CELL` (suppressed)."""

    @property
    def conserved(self) -> bool:
        """funded = awarded + remaining; awarded = balances + redeemed + expired + clawed back."""
        return (
            self.funded == self.awarded + self.remaining
            and self.awarded == self.balances + self.redeemed + self.expired + self.clawed_back
            and min(self.balances, self.remaining, self.redeemed) >= 0
        )

    def lines(self) -> list[str]:
        members = f"{self.members}" if self.members is not None else f"< {SMALL_CELL} (suppressed)"
        return [
            f"campaign {self.campaign}: funded {self.funded} points",
            f"  awarded {self.awarded}, redeemed {self.redeemed}, expired {self.expired}, "
            f"clawed back {self.clawed_back}",
            f"  outstanding balances {self.balances}, budget remaining {self.remaining}",
            f"  distinct members {members}",
        ]


async def campaign_report(gateway: Gateway, campaign: str) -> CampaignReport:
    t = await gateway.evaluate(NAMESPACE, "totals", [campaign])
    return CampaignReport(
        campaign,
        t["funded"],
        t["awarded"],
        t["redeemed"],
        t["expired"],
        t["clawed_back"],
        t["balances"],
        t["remaining"],
        t["members"],
    )


async def auditor_view(gateway: Gateway, campaign: str) -> list[dict[str, Any]]:
    """Every award with its nullifier, rule, points, evidence digest and co-signer (the
    sponsor's and the auditor's members only)."""
    awards: list[dict[str, Any]] = await gateway.evaluate(NAMESPACE, "awards", [campaign])
    return awards
