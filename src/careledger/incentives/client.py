"""A member-signed HTTP client for a node's incentive routes (what the CLI uses).

Transactions the sponsor signs itself (allowing a sponsor, creating a campaign) go through the
node's generic ``/v1/submit`` as client-signed proposals (:class:`~careledger.api.client.
NodeClient`); reads, dry runs and redemptions use ``/v1/incentives/…``.
"""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Any

import httpx

from careledger.api.client import NodeClient
from careledger.api.codec import b64e
from careledger.contracts.incentives import NAMESPACE
from careledger.identity.msp import LocalIdentity
from careledger.incentives.routes import PREFIX
from careledger.incentives.wallet import MemberWallet


class IncentivesClient:
    def __init__(
        self,
        base_url: str,
        identity: LocalIdentity,
        *,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.identity = identity
        self.node = NodeClient(
            base_url, identity, timeout=timeout, transport=transport, verify=verify
        )

    async def __aenter__(self) -> IncentivesClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.node.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        return await self.node.call(method, path, body)

    # -- sponsor and auditor ------------------------------------------------------------------
    async def propose_sponsor(self, org: str, ceiling_cents: int) -> dict[str, Any]:
        done = await self.node.submit(NAMESPACE, "propose_sponsor", [org, ceiling_cents])
        result: dict[str, Any] = done.result
        return result

    async def approve_sponsor(self, motion_id: str) -> dict[str, Any]:
        done = await self.node.submit(NAMESPACE, "approve_sponsor", [motion_id])
        result: dict[str, Any] = done.result
        return result

    async def create_campaign(self, spec: dict[str, Any]) -> dict[str, Any]:
        done = await self.node.submit(NAMESPACE, "create_campaign", [spec])
        result: dict[str, Any] = done.result
        return result

    async def campaigns(self) -> list[str]:
        found: list[str] = await self._call("GET", f"{PREFIX}/campaigns")
        return found

    async def campaign(self, campaign: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._call("GET", f"{PREFIX}/campaigns/{campaign}")
        return found

    async def report(self, campaign: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._call("GET", f"{PREFIX}/campaigns/{campaign}/report")
        return found

    async def awards(self, campaign: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._call(
            "GET", f"{PREFIX}/campaigns/{campaign}/awards"
        )
        return found

    # -- members ------------------------------------------------------------------------------
    async def account(self, campaign: str, pseudonym: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._call(
            "GET", f"{PREFIX}/campaigns/{campaign}/accounts/{pseudonym}"
        )
        return found

    async def history(self, campaign: str, pseudonym: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._call(
            "GET", f"{PREFIX}/campaigns/{campaign}/accounts/{pseudonym}/history"
        )
        return found

    async def redeem(
        self, wallet: MemberWallet, campaign: str, item: str, quantity: int = 1
    ) -> dict[str, Any]:
        pseudonym = wallet.pseudonym(campaign)
        account = await self.account(campaign, pseudonym)
        signature = wallet.sign_redemption(campaign, item, quantity, int(account["redemptions"]))
        body = {
            "pseudonym": pseudonym,
            "item": item,
            "quantity": quantity,
            "signature": b64e(signature),
        }
        found: dict[str, Any] = await self._call(
            "POST", f"{PREFIX}/campaigns/{campaign}/redeem", body
        )
        return found
