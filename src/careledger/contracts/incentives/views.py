"""The read side of the ``incentives`` contract: campaigns, accounts, histories, reports and
the auditor's view (a mixin of :class:`careledger.contracts.incentives.Incentives`, whose
functions it becomes; see that module for the state it reads).

Reports sum the member accounts and budget tranches in the query — there are no counters on
chain — and suppress the count of distinct members below :data:`SMALL_CELL`.
"""

from __future__ import annotations

from typing import Any

from careledger.contracts.base import Stub, query, to_plain
from careledger.contracts.incentives.terms import Campaign, MemberAccount
from careledger.contracts.phi_guard import HexDigest, require
from careledger.errors import ContractError, InvalidInput

SMALL_CELL = 11


class CampaignViews:
    """Queries of the incentives contract, and the lookups its functions share."""

    def _campaign(self, stub: Stub, campaign_id: str) -> Campaign:
        if not isinstance(campaign_id, str) or not campaign_id or len(campaign_id) > 40:
            raise InvalidInput("a campaign id is 3-40 characters")
        campaign: Campaign | None = stub.get(f"campaign/{campaign_id}")
        if campaign is None:
            raise ContractError(f"unknown campaign {campaign_id!r}")
        return campaign

    def _account(self, stub: Stub, campaign_id: str, pseudonym: str) -> MemberAccount:
        require(pseudonym, HexDigest, "pseudonym")
        account: MemberAccount | None = stub.get(f"member/{campaign_id}/{pseudonym}")
        if account is None:
            raise ContractError(f"no member {pseudonym[:12]}… in campaign {campaign_id}")
        return account

    # -- queries ----------------------------------------------------------------------------
    @query
    def campaign(self, stub: Stub, campaign_id: str) -> dict[str, Any]:
        campaign = self._campaign(stub, campaign_id)
        return {**to_plain(campaign), "transferable": False}

    @query
    def campaigns(self, stub: Stub) -> list[str]:
        return [k.split("/", 1)[1] for k, _ in stub.range("campaign/", "campaign0")]

    @query
    def sponsors(self, stub: Stub) -> list[dict[str, Any]]:
        return [to_plain(v) for _, v in stub.range("sponsor/", "sponsor0")]

    @query
    def motion(self, stub: Stub, motion_id: str) -> dict[str, Any] | None:
        require(motion_id, HexDigest, "motion_id")
        found = stub.get(f"motion/{motion_id}")
        return None if found is None else to_plain(found)

    @query
    def account(self, stub: Stub, campaign_id: str, pseudonym: str) -> dict[str, Any]:
        """A member's balance, totals and when the points expire (``transferable``: never)."""
        campaign = self._campaign(stub, campaign_id)
        account = self._account(stub, campaign_id, pseudonym)
        return {
            **to_plain(account),
            "campaign": campaign_id,
            "pseudonym": pseudonym,
            "expires_at": campaign.spec.points_valid_until,
            "transferable": False,
        }

    @query
    def history(self, stub: Stub, campaign_id: str, pseudonym: str) -> list[dict[str, Any]]:
        """Every committed change of a member's account, oldest first."""
        self._campaign(stub, campaign_id)
        require(pseudonym, HexDigest, "pseudonym")
        return [
            {"block": version[0], "tx": version[1], **({} if v is None else to_plain(v))}
            for version, v in stub.history(f"member/{campaign_id}/{pseudonym}")
        ]

    @query
    def totals(self, stub: Stub, campaign_id: str) -> dict[str, Any]:
        """Funded, awarded, redeemed, expired, clawed back, remaining; distinct members is
        suppressed (None) below :data:`SMALL_CELL` so a small cell cannot single anyone out."""
        campaign = self._campaign(stub, campaign_id)
        sums = {"awarded": 0, "balances": 0, "redeemed": 0, "expired": 0, "clawed_back": 0}
        members = 0
        for _, acct in stub.range(f"member/{campaign_id}/", f"member/{campaign_id}0"):
            members += 1 if acct.awarded else 0
            sums["awarded"] += acct.awarded
            sums["balances"] += acct.balance
            sums["redeemed"] += acct.redeemed
            sums["expired"] += acct.expired
            sums["clawed_back"] += acct.clawed_back
        remaining = sum(
            t.remaining for _, t in stub.range(f"tranche/{campaign_id}/", f"tranche/{campaign_id}0")
        )
        return {
            "campaign": campaign_id,
            "funded": campaign.spec.budget_points,
            "remaining": remaining,
            **sums,
            "members": members if members >= SMALL_CELL else None,
            "members_suppressed": members < SMALL_CELL,
        }

    @query
    def awards(self, stub: Stub, campaign_id: str) -> list[dict[str, Any]]:
        """The auditor's view: every award with its nullifier and evidence digest (auditor and
        sponsor organisations only)."""
        campaign = self._campaign(stub, campaign_id)
        if stub.creator.org not in (campaign.sponsor, campaign.spec.auditor):
            raise ContractError(f"only {campaign.sponsor} and the auditor see the awards")
        return [
            {"nullifier": k.rsplit("/", 1)[1], **to_plain(v)}
            for k, v in stub.range(f"award/{campaign_id}/", f"award/{campaign_id}0")
        ]
