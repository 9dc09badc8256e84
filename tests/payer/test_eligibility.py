"""CoverageEligibilityRequest/$submit at the payer's node, and the ledger-backed source's reading
of the plans and claims contracts' answers."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from careledger.contracts.payer.model import day_number
from careledger.node.consortium import ConsortiumConfig
from careledger.payer.eligibility import CoverageAnswer, LedgerEligibility
from careledger.payer.pas.bundles import member_handle
from tests.payer.env import MEMBER_ID, SECRET, payer_node

REQUEST: dict[str, Any] = {
    "resourceType": "CoverageEligibilityRequest",
    "status": "active",
    "purpose": ["benefits"],
    "patient": {"identifier": {"system": "urn:org2:members", "value": MEMBER_ID}},
    "created": "2026-03-02",
    "servicedDate": "2026-03-10",
    "insurer": {"identifier": {"system": "urn:careledger:org", "value": "Org2"}},
}


def test_eligibility_answers_from_the_source_by_keyed_handle(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with payer_node(consortium) as node:
            handle = member_handle(SECRET, "urn:org2:members", MEMBER_ID)
            node.eligibility.members[handle] = CoverageAnswer(
                True, "GOLD-PPO", 50_000, 250_000, ("HC:72148",)
            )
            path = "/fhir/CoverageEligibilityRequest/$submit"
            reply = await node.call("POST", path, REQUEST)
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert body["resourceType"] == "CoverageEligibilityResponse"
            insurance = body["insurance"][0]
            assert insurance["inforce"] is True
            money = [b["allowedMoney"]["value"] for b in insurance["item"][0]["benefit"]]
            assert money == [500.0, 2500.0]
            assert insurance["item"][1]["authorizationRequired"] is True

            stranger = dict(REQUEST, patient={"identifier": {"value": "W000000000"}})
            reply = await node.call("POST", path, stranger)
            assert reply.json()["insurance"][0]["inforce"] is False

            bad = await node.call("POST", path, {"resourceType": "CoverageEligibilityRequest"})
            assert bad.status_code == 400
            assert bad.json()["resourceType"] == "OperationOutcome"

    asyncio.run(main())


def test_ledger_eligibility_reads_coverage_plan_and_accumulators() -> None:
    member = "ph1" + "ab" * 32
    day = day_number("2026-03-10")
    answers: dict[tuple[str, str], Any] = {
        ("plans", "coverages"): [
            {"payer": "Org3", "coverage": {"plan": "OTHER", "start": 0, "end": day + 10}},
            {"payer": "Org2", "coverage": {"plan": "GOLD", "start": day - 60, "end": day + 300}},
        ],
        ("plans", "plan"): {
            "plan": {
                "deductible_cents": 100_000,
                "oop_max_cents": 400_000,
                "year_start_month": 1,
                "benefits": [
                    {"code": "HC:72148", "prior_auth": True},
                    {"code": "HC:99213", "prior_auth": False},
                ],
            }
        },
        ("claims", "accumulator"): {"deductible_cents": 30_000, "out_of_pocket_cents": 45_000},
    }
    calls: list[tuple[str, str, list[Any]]] = []

    async def evaluate(contract: str, function: str, args: list[Any]) -> Any:
        calls.append((contract, function, args))
        return answers[(contract, function)]

    answer = asyncio.run(LedgerEligibility(evaluate, "Org2").coverage(member, day))
    assert answer == CoverageAnswer(True, "GOLD", 70_000, 355_000, ("HC:72148",))
    assert ("claims", "accumulator", [member, "GOLD", 2026]) in calls
    ended = asyncio.run(LedgerEligibility(evaluate, "Org2").coverage(member, day + 400))
    assert ended.active is False


def test_eligibility_from_the_real_plans_and_claims_contracts(
    consortium: ConsortiumConfig,
) -> None:
    """Runs once the plans and claims contracts (payer-adjudication) are in the tree."""
    benefits = pytest.importorskip("careledger.contracts.payer.benefits")
    pytest.importorskip("careledger.contracts.payer.plans")

    async def main() -> None:
        async with payer_node(consortium, ("prior_auth", "plans", "claims")) as node:
            payer = node.net.gateway("Org2")
            plan = benefits.BenefitPlan(
                plan="GOLD-PPO",
                payer="Org2",
                deductible_cents=100_000,
                oop_max_cents=400_000,
                coinsurance_bp=2000,
                timely_filing_days=90,
                benefits=[
                    benefits.Benefit("HC:72148", 80_000, prior_auth=True),
                    benefits.Benefit("HC:99213", 10_000),
                ],
            )
            await payer.submit("plans", "publish", [msgspec.to_builtins(plan)])
            handle = member_handle(SECRET, "urn:org2:members", MEMBER_ID)
            day = day_number("2026-03-10")
            coverage = benefits.Coverage(
                member=handle, plan="GOLD-PPO", start=day - 30, end=day + 300
            )
            await payer.submit("plans", "enrol", [msgspec.to_builtins(coverage)])

            source = LedgerEligibility(payer.evaluate, "Org2")
            answer = await source.coverage(handle, day)
            assert answer == CoverageAnswer(True, "GOLD-PPO", 100_000, 400_000, ("HC:72148",))
            assert (await source.coverage(handle, day + 301)).active is False
            other_payer = LedgerEligibility(payer.evaluate, "Org3")
            assert (await other_payer.coverage(handle, day)).active is False

    asyncio.run(main())
