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


def test_malformed_request_bundles_are_400_with_the_path(consortium: ConsortiumConfig) -> None:
    def without(path: list[Any]) -> dict[str, Any]:
        bundle = pas_bundle()
        target: Any = bundle
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]
        return bundle

    def changed(path: list[Any], value: Any) -> dict[str, Any]:
        bundle = pas_bundle()
        target: Any = bundle
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        return bundle

    reordered = pas_bundle()
    reordered["entry"].reverse()
    cases: list[tuple[Any, str]] = [
        (changed(["type"], "transaction"), "Bundle.type"),
        (without(["identifier"]), "Bundle.identifier"),
        (without(["timestamp"]), "Bundle.timestamp"),
        (without(["entry", 1, "fullUrl"]), "Bundle.entry[1].fullUrl"),
        (reordered, "Bundle.entry[0].resource"),
        (changed(["entry", 0, "resource", "use"], "claim"), "Bundle.entry[0].resource.use"),
        (changed(["entry", 0, "resource", "use"], 7), "Bundle.entry[0].resource.use"),
        (
            changed(["entry", 0, "resource", "item", 0, "quantity", "value"], 0),
            "Bundle.entry[0].resource.item[0].quantity",
        ),
        (without(["entry", 0, "resource", "identifier"]), "Bundle.entry[0].resource.identifier"),
        ({"resourceType": "Claim"}, "Bundle"),
    ]

    async def main() -> None:
        async with payer_node(consortium) as node:
            for bundle, path in cases:
                reply = await node.call("POST", "/fhir/Claim/$submit", bundle)
                assert reply.status_code == 400, (path, reply.text)
                outcome = reply.json()
                assert outcome["resourceType"] == "OperationOutcome"
                expressions = [e for i in outcome["issue"] for e in i.get("expression", [])]
                assert path in expressions, (path, expressions)
            broken = await node.call("POST", "/fhir/Claim/$submit", b"{not json")
            assert broken.status_code == 400
            assert broken.json()["resourceType"] == "OperationOutcome"
            xml = await node.http.post(
                "/fhir/Claim/$submit", content=b"<Bundle/>", headers={"Content-Type": "text/xml"}
            )
            assert xml.status_code == 415
            assert xml.json()["resourceType"] == "OperationOutcome"
            unsigned = await node.http.post("/fhir/Claim/$submit", json=pas_bundle())
            assert unsigned.status_code == 401
            pending = await node.net.gateway(PAYER).evaluate("prior_auth", "pending", [])
            assert pending == []  # nothing half-written

    asyncio.run(main())


def test_denial_needs_reasons_and_text_and_cannot_be_updated(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with payer_node(consortium) as node:
            claim_id = "claim-deny-1"
            reply = await node.call("POST", "/fhir/Claim/$submit", pas_bundle(claim_id=claim_id))
            number = claim_response(reply.json())["preAuthRef"]
            url = f"/payer/prior-auth/{number}/decision"
            bare = await node.call("POST", url, {"action": "A3"}, org=PAYER)
            assert bare.status_code == 422, bare.text
            assert "reason" in bare.text
            no_text = await node.call("POST", url, {"action": "A3", "reasons": ["0U"]}, org=PAYER)
            assert no_text.status_code == 422
            by_provider = await node.call(
                "POST", url, {"action": "A1"}, org="Org1"
            )  # not the payer's reviewer
            assert by_provider.status_code == 403
            denied = await node.call(
                "POST",
                url,
                {"action": "A3", "reasons": ["0U"], "text": "Conservative therapy first."},
                org=PAYER,
            )
            assert denied.status_code == 200, denied.text
            response = claim_response(denied.json())
            assert review_action(response) == "A3"
            assert response["processNote"][0]["text"] == "Conservative therapy first."
            ext = response["item"][0]["adjudication"][0]["extension"][0]["extension"]
            assert {"url": "reasonCode"} in [{"url": e["url"]} for e in ext]
            assert "preAuthPeriod" not in response
            auth = await node.net.gateway(PAYER).evaluate("prior_auth", "authorization", [number])
            assert auth is None

            update = await node.call(
                "POST", "/fhir/Claim/$submit", pas_bundle(related=claim_id, units=1)
            )
            assert update.status_code == 422
            assert "cannot be updated" in update.text

    asyncio.run(main())


def test_partial_update_cancel_and_inquire(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with payer_node(consortium) as node:
            first = await node.call("POST", "/fhir/Claim/$submit", pas_bundle(claim_id="c-1"))
            number = claim_response(first.json())["preAuthRef"]
            other = await node.call(
                "POST", "/fhir/Claim/$submit", pas_bundle(claim_id="c-2", member="W999999999")
            )
            assert other.status_code == 200

            partial = await node.call(
                "POST",
                f"/payer/prior-auth/{number}/decision",
                {
                    "action": "A2",
                    "reasons": ["0V"],
                    "text": "One session approved.",
                    "services": [
                        {"sequence": 1, "units": 1, "start": "2026-03-10", "end": "2026-03-31"}
                    ],
                },
                org=PAYER,
            )
            assert partial.status_code == 200, partial.text
            response = claim_response(partial.json())
            assert review_action(response) == "A2"
            assert response["preAuthPeriod"]["end"] == "2026-03-31"
            auth = await node.net.gateway(PAYER).evaluate("prior_auth", "authorization", [number])
            assert (auth["units"], auth["status"]) == (1, "partial")

            updated = await node.call(
                "POST", "/fhir/Claim/$submit", pas_bundle(related="c-1", units=3)
            )
            assert updated.status_code == 200, updated.text
            assert review_action(claim_response(updated.json())) == "A4"
            assert claim_response(updated.json())["preAuthRef"] == number
            stale = await node.net.gateway(PAYER).evaluate("prior_auth", "authorization", [number])
            assert stale is None  # the update withdrew the old authorization until decided

            stranger = await node.call(
                "POST", "/fhir/Claim/$submit", pas_bundle(related="c-1", cancel=True), org="Org3"
            )
            assert stranger.status_code == 403
            cancelled = await node.call(
                "POST", "/fhir/Claim/$submit", pas_bundle(related="c-1", cancel=True)
            )
            assert cancelled.status_code == 200, cancelled.text
            assert review_action(claim_response(cancelled.json())) == "C"
            assert claim_response(cancelled.json())["status"] == "cancelled"

            found = await node.call("POST", "/fhir/Claim/$inquire", pas_bundle())
            assert found.status_code == 200, found.text
            numbers = [claim_response(e["resource"])["preAuthRef"] for e in found.json()["entry"]]
            assert numbers == [number]
            as_org3 = await node.call("POST", "/fhir/Claim/$inquire", pas_bundle(), org="Org3")
            assert as_org3.json()["entry"] == []  # only the requester's own requests

    asyncio.run(main())


def test_rest_hooks_are_https_and_not_internal(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with payer_node(consortium) as node:
            for endpoint in (
                "http://org1.test/hook",
                "https://127.0.0.1/hook",
                "https://10.0.0.8/hook",
                "https://[::1]/hook",
                "https://localhost/hook",
                "not a url",
            ):
                reply = await node.call(
                    "POST", "/payer/prior-auth/subscriptions", {"endpoint": endpoint}
                )
                assert reply.status_code == 400, endpoint
            ok = await node.call(
                "POST", "/payer/prior-auth/subscriptions", {"endpoint": "https://org1.test/h"}
            )
            assert ok.json() == {"endpoints": ["https://org1.test/h"]}

    asyncio.run(main())
