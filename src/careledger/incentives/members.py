"""The member's operations, from the wallet: balances, history, expiry, redemption.

A member has no ledger identity: an organisation's gateway (the sponsor's or a fulfilment
partner's) submits the redemption, but only the member's per-campaign key can sign it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from careledger.contracts.incentives import NAMESPACE
from careledger.errors import ContractError, InvalidInput
from careledger.incentives.codes import RejectCode
from careledger.incentives.wallet import MemberWallet
from careledger.node.gateway import Gateway


@dataclass(frozen=True, slots=True)
class Holding:
    """One campaign's points in a member's wallet."""

    campaign: str
    pseudonym: str
    balance: int
    awarded: int
    redeemed: int
    expired: int
    clawed_back: int
    expires_at: int
    frozen: str | None
    transferable: bool = False


@dataclass(frozen=True, slots=True)
class RedeemOutcome:
    status: str  # "redeemed" | "rejected"
    code: RejectCode | None = None
    points: int = 0
    balance: int | None = None
    tx_id: str | None = None


async def holdings(gateway: Gateway, wallet: MemberWallet, campaigns: list[str]) -> list[Holding]:
    """The member's accounts in ``campaigns`` (those it has none in are left out)."""
    found = []
    for campaign in campaigns:
        try:
            acct = await gateway.evaluate(
                NAMESPACE, "account", [campaign, wallet.pseudonym(campaign)]
            )
        except ContractError:
            continue
        found.append(
            Holding(
                campaign,
                acct["pseudonym"],
                acct["balance"],
                acct["awarded"],
                acct["redeemed"],
                acct["expired"],
                acct["clawed_back"],
                acct["expires_at"],
                acct.get("frozen"),
            )
        )
    return found


async def history(gateway: Gateway, wallet: MemberWallet, campaign: str) -> list[dict[str, Any]]:
    """Every committed change of the member's account in ``campaign``."""
    result: list[dict[str, Any]] = await gateway.evaluate(
        NAMESPACE, "history", [campaign, wallet.pseudonym(campaign)]
    )
    return result


async def redeem(
    gateway: Gateway, wallet: MemberWallet, campaign: str, item: str, quantity: int = 1
) -> RedeemOutcome:
    """Burn points for ``quantity`` of catalogue ``item``, signed by the wallet."""
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 < quantity <= 100:
        raise InvalidInput("quantity must be between 1 and 100")
    pseudonym = wallet.pseudonym(campaign)
    acct = await gateway.evaluate(NAMESPACE, "account", [campaign, pseudonym])
    signature = wallet.sign_redemption(campaign, item, quantity, int(acct["redemptions"]))
    done = await gateway.submit(
        NAMESPACE, "redeem", [campaign, pseudonym, item, quantity, signature], retries=0
    )
    result: dict[str, Any] = done.result
    if result["status"] == "redeemed":
        return RedeemOutcome(
            "redeemed", None, int(result["points"]), int(result["balance"]), done.tx_id
        )
    return RedeemOutcome("rejected", RejectCode(result["code"]), tx_id=done.tx_id)
