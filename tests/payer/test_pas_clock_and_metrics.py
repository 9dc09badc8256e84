"""Deadlines on a simulated clock, the CMS report against a hand count, and no PHI on chain."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

import careledger.node.gateway as gateway_module
from careledger.node.consortium import ConsortiumConfig
from tests.harness import world
from tests.payer.env import (
    MEMBER_ID,
    PAYER,
    PayerNode,
    ProposalClock,
    claim_response,
    pas_bundle,
    payer_node,
)

HOUR = 3_600_000
T0 = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)


async def _submit(node: PayerNode, **kwargs: object) -> str:
    reply = await node.call("POST", "/fhir/Claim/$submit", pas_bundle(**kwargs))  # type: ignore[arg-type]
    assert reply.status_code == 200, reply.text
    return str(claim_response(reply.json())["preAuthRef"])


async def _decide(node: PayerNode, number: str, action: str) -> None:
    body: dict[str, object] = {"action": action}
    if action != "A1":
        body |= {"reasons": ["0U"], "text": "See the medical policy."}
    reply = await node.call("POST", f"/payer/prior-auth/{number}/decision", body, org=PAYER)
    assert reply.status_code == 200, reply.text


def test_deadlines_breach_on_a_simulated_clock_and_metrics_equal_a_hand_count(
    consortium: ConsortiumConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ProposalClock(T0)
    monkeypatch.setattr(gateway_module, "time", clock)

    async def main() -> None:
        async with payer_node(consortium) as node:
            r1 = await _submit(node)
            r2 = await _submit(node, priority="stat")
            r3 = await _submit(node)
            r5 = await _submit(node, claim_id="to-cancel")
            clock.advance(HOUR)
            r4 = await _submit(node, priority="stat")
            record = await node.service.get(r4)
            assert record["deadline"] == T0 + HOUR + 72 * HOUR  # expedited: 72 h
            assert (await node.service.get(r1))["deadline"] == T0 + 7 * 24 * HOUR  # standard

            clock.now_ms = T0 + 10 * HOUR
            await _decide(node, r2, "A3")
            clock.now_ms = T0 + 20 * HOUR
            appeal = await node.call("POST", f"/payer/prior-auth/{r2}/appeal")
            assert appeal.status_code == 200, appeal.text
            clock.now_ms = T0 + 24 * HOUR
            await _decide(node, r1, "A1")
            clock.now_ms = T0 + 30 * HOUR
            await _decide(node, r2, "A1")
            clock.now_ms = T0 + 48 * HOUR
            extension = await node.call(
                "POST", f"/payer/prior-auth/{r3}/extension", {"reason": "0P"}, org=PAYER
            )
            assert extension.status_code == 200, extension.text
            cancel = await node.call(
                "POST", "/fhir/Claim/$submit", pas_bundle(related="to-cancel", cancel=True)
            )
            assert cancel.status_code == 200, cancel.text

            # 79 h after r4's submission: its 72 h deadline passed; standard ones are within.
            clock.now_ms = T0 + 80 * HOUR
            early = await node.call(
                "POST", "/payer/prior-auth/deadlines", {"now": T0 + 80 * HOUR + HOUR}, org=PAYER
            )
            assert early.status_code == 400  # "now" cannot be after the transaction's time
            checked = await node.call(
                "POST", "/payer/prior-auth/deadlines", {"now": T0 + 80 * HOUR}, org=PAYER
            )
            assert checked.status_code == 200, checked.text
            assert checked.json()["breached"] == [r4]
            again = await node.call(
                "POST", "/payer/prior-auth/deadlines", {"now": T0 + 80 * HOUR}, org=PAYER
            )
            assert again.json()["breached"] == []  # marked once
            assert (await node.service.get(r4))["breached"] is True

            clock.now_ms = T0 + 90 * HOUR
            await _decide(node, r4, "A3")
            clock.now_ms = T0 + 15 * 24 * HOUR
            await _decide(node, r3, "A6")
            assert r5

            reply = await node.call("GET", "/payer/prior-auth/metrics?year=2026", org="Org3")
            assert reply.status_code == 200, reply.text
            report = reply.json()
            # By hand: r1 A1 24 h, r2 A1 10 h after its appeal, r3 A6 after extension 360 h,
            # r4 A3 89 h (breached); r5 cancelled, not decided.
            assert (report["decided"], report["approved"], report["denied"]) == (4, 3, 1)
            assert report["percent_approved"] == 75.0
            assert report["percent_denied"] == 25.0
            assert report["percent_approved_after_appeal"] == 25.0
            assert report["percent_approved_after_extension"] == 25.0
            assert report["mean_decision_hours"] == 120.75  # (24 + 10 + 360 + 89) / 4
            assert report["median_decision_hours"] == 56.5  # (24 + 89) / 2
            assert report["deadline_breaches"] == 1
            assert report["standard"]["decided"] == 2
            assert report["standard"]["median_decision_hours"] == 192.0
            assert report["expedited"]["denied"] == 1
            assert report["expedited"]["deadline_breaches"] == 1
            assert report["expedited"]["mean_decision_hours"] == 49.5
            other = await node.call("GET", "/payer/prior-auth/metrics?year=2025", org="Org3")
            assert other.json()["decided"] == 0
            # Any member recomputes the same figures from its own copy of the chain.
            from careledger.payer.pas.metrics import prior_auth_events, prior_auth_report

            org3 = prior_auth_report(prior_auth_events(node.net.peers["Org3"].blocks), 2026)
            assert org3.to_json() == report | {"payer": None}

    asyncio.run(main())


def test_no_plaintext_identifier_in_world_state_or_blocks(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with payer_node(consortium) as node:
            bundle = pas_bundle(claim_id="CLAIM-ORG1-778899")
            reply = await node.call("POST", "/fhir/Claim/$submit", bundle)
            number = claim_response(reply.json())["preAuthRef"]
            await node.call(
                "POST",
                f"/payer/prior-auth/{number}/decision",
                {"action": "A3", "reasons": ["0U"], "text": "Rivera lacks the imaging history."},
                org=PAYER,
            )
            secrets = [
                MEMBER_ID,
                "Rivera",
                "1961-07-14",
                "CLAIM-ORG1-778899",
                bundle["identifier"]["value"],
                "imaging history",
                "2026-03-10",
            ]
            state = await world(node.net, ("prior_auth",))
            assert state["prior_auth"]
            for peer in node.net.peers.values():
                blob = b"".join(block.to_bytes() for block in peer.blocks)
                values = b"".join(v for v, _ in state["prior_auth"].values())
                keys = "".join(state["prior_auth"]).encode()
                for secret in secrets:
                    for where in (blob, values, keys):
                        assert secret.encode() not in where, secret

    asyncio.run(main())


def test_the_deadline_watch_marks_what_is_due_once(
    consortium: ConsortiumConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from careledger.payer.pas.deadlines import DeadlineWatch

    clock = ProposalClock(T0)
    monkeypatch.setattr(gateway_module, "time", clock)

    async def main() -> None:
        async with payer_node(consortium) as node:
            watch = DeadlineWatch(node.service, clock=clock.time)
            expedited = await _submit(node, priority="stat")
            standard = await _submit(node)
            assert await watch.tick() == []
            clock.advance(73 * HOUR)
            assert await watch.tick() == [expedited]
            assert await watch.tick() == []
            clock.advance(7 * 24 * HOUR)
            assert await watch.tick() == [standard]

    asyncio.run(main())
