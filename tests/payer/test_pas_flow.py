"""Prior authorization through the payer's node: submit, decide, update, cancel, inquire."""

from __future__ import annotations

import asyncio
from typing import Any

from careledger.node.consortium import ConsortiumConfig
from tests.payer.env import PAYER, claim_response, pas_bundle, payer_node, review_action


def test_submit_pends_then_reviewer_approves_and_requester_is_notified(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with payer_node(consortium) as node:
            hook = await node.call(
                "POST", "/payer/prior-auth/subscriptions", {"endpoint": "https://org1.test/hook"}
            )
            assert hook.status_code == 200, hook.text
            request = pas_bundle()
            reply = await node.call("POST", "/fhir/Claim/$submit", request)
            assert reply.status_code == 200, reply.text
            response = claim_response(reply.json())
            assert reply.json()["type"] == "collection"
            assert review_action(response) == "A4"
            number = response["preAuthRef"]

            again = await node.call("POST", "/fhir/Claim/$submit", request)
            assert claim_response(again.json())["preAuthRef"] == number  # idempotent

            queue = await node.call("GET", "/payer/prior-auth/pending", org=PAYER)
            assert [p["number"] for p in queue.json()["pending"]] == [number]

            decided = await node.call(
                "POST", f"/payer/prior-auth/{number}/decision", {"action": "A1"}, org=PAYER
            )
            assert decided.status_code == 200, decided.text
            approved = claim_response(decided.json())
            assert review_action(approved) == "A1"
            assert approved["preAuthPeriod"] == {"start": "2026-03-10", "end": "2026-04-10"}
            assert node.hooks
            assert claim_response(node.hooks[-1])["preAuthRef"] == number
            auth: dict[str, Any] = await node.net.gateway("Org3").evaluate(
                "prior_auth", "authorization", [number]
            )
            assert auth["codes"] == ["HC:72148"]
            assert auth["units"] == 2
            assert auth["status"] == "approved"

    asyncio.run(main())
