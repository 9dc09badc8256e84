"""A prior authorization approved through the ``prior_auth`` contract is what the ``claims``
contract matches a claim line against (``authorization/<number>``, read cross-namespace).
Runs once the claims contract and its test factories (payer-adjudication) are in the tree."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from careledger.contracts.payer.model import day_number
from careledger.node.consortium import ConsortiumConfig
from tests.harness import running


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _reasons(adjudication: dict[str, Any]) -> list[str]:
    return [a["reason"] for line in adjudication["lines"] for a in line["adjustments"]]


def test_claim_lines_match_the_approved_authorization(consortium: ConsortiumConfig) -> None:
    factories = pytest.importorskip("tests.payer.factories")
    plain, line = factories.plain, factories.line

    async def main() -> None:
        contracts = ("prior_auth", "plans", "claims")
        async with running(consortium, contracts=contracts) as net:
            payer, provider = net.gateway("Org2"), net.gateway("Org1")
            await payer.submit("plans", "publish", [plain(factories.plan(timely_filing_days=3650))])
            await payer.submit("plans", "enrol", [plain(factories.coverage())])
            await payer.submit("plans", "admit", ["Org1", True])
            day = day_number("2026-03-02")
            request = {
                "request": _digest("bundle-1"),
                "bundle": _digest("bundle-1-content"),
                "claim": _digest("claim-1"),
                "requester": "Org1",
                "member": factories.MEMBER,
                "priority": "standard",
                "items": [
                    {
                        "sequence": 1,
                        "code": "HC:27447",
                        "units": 1,
                        "start": day - 1,
                        "end": day + 30,
                    }
                ],
            }
            number = (await payer.submit("prior_auth", "submit", [request])).result["number"]

            async def bill(claim_id: str, service: str) -> dict[str, Any]:
                knee = line(code="27447", charge=2_000_000, service_from=service)
                form = factories.submission(knee, claim_id=claim_id, prior_authorization=number)
                done = await provider.submit("claims", "submit", [plain(form)])
                stored = await provider.evaluate(
                    "claims", "adjudication", [done.result["claim_key"]]
                )
                return dict(stored)

            pended_pa = await bill("PCN-K0", "2026-03-02")
            assert "197" in _reasons(pended_pa)  # not yet approved: no authorization on file

            await payer.submit("prior_auth", "decide", [number, {"action": "A1"}])
            paid = await bill("PCN-K1", "2026-03-03")
            assert "197" not in _reasons(paid)
            assert paid["paid_cents"] > 0
            exhausted = await bill("PCN-K2", "2026-03-04")
            assert "198" in _reasons(exhausted)  # the one authorized unit is used up

    asyncio.run(main())
