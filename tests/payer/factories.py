"""Plans, coverages and claims for the payer tests, and a ledger double that runs the contracts
through the real :class:`~careledger.endorsement.simulator.Simulation` (PHI screen, schemas,
read/write sets) against an in-memory state store, committing each valid call as a block."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec

from careledger.contracts.payer.adjudication import (
    AdjudicationInputs,
    Outcome,
    YearAccumulator,
    adjudicate,
)
from careledger.contracts.payer.benefits import (
    Benefit,
    BenefitPlan,
    Coverage,
    CoverageRecord,
    PlanRecord,
)
from careledger.contracts.payer.model import (
    Claim,
    ClaimLine,
    ClaimSubmission,
    LineAdjudication,
    day_number,
)
from careledger.contracts.registry import default_registry
from careledger.contracts.values import encode_value
from careledger.endorsement.simulator import Simulation
from careledger.identity.msp import MemberCert, Role
from careledger.ledger.state.base import BlockUpdate, StateWrite
from careledger.ledger.state.memory import MemoryStateStore
from careledger.payer.ledger_form import ClaimKeyer, ledger_form

MEMBER = "ph1" + "a1" * 32
OTHER_MEMBER = "ph1" + "b2" * 32
PAYER = "Org2"
PROVIDER = "Org1"
KEYER = ClaimKeyer(b"k" * 32)
DAY_MS = 86_400_000
JAN1 = day_number("2026-01-01")


def plan(**changes: Any) -> BenefitPlan:
    base = BenefitPlan(
        plan="gold",
        payer=PAYER,
        deductible_cents=50_000,
        oop_max_cents=300_000,
        coinsurance_bp=2_000,
        timely_filing_days=90,
        benefits=[
            Benefit("HC:27447", 1_500_000, prior_auth=True),
            Benefit("HC:73560", 8_000),
            Benefit("HC:80053", 1_500, deductible_applies=False, coinsurance_bp=0),
            Benefit("HC:99213", 10_000, copay_cents=2_500),
            Benefit("HC:J1100", 300),
        ],
        excluded=["HC:15820"],
    )
    return msgspec.structs.replace(base, **changes)


def coverage(member: str = MEMBER, **changes: Any) -> Coverage:
    base = Coverage(member, "gold", JAN1, day_number("2026-12-31"))
    return msgspec.structs.replace(base, **changes)


def line(n: int = 1, code: str = "99213", charge: int = 15_000, **changes: Any) -> ClaimLine:
    base = ClaimLine(n, code, charge, 1, "2026-03-02")
    return msgspec.structs.replace(base, **changes)


def claim(*lines: ClaimLine, claim_id: str = "PCN-A1", **changes: Any) -> Claim:
    lines = lines or (line(),)
    base = Claim(
        claim_id=claim_id,
        kind="professional",
        member=MEMBER,
        payer=PAYER,
        billing_npi="1234567893",
        lines=list(lines),
        total_charge_cents=sum(x.charge_cents for x in lines),
        place_of_service="11",
    )
    return msgspec.structs.replace(base, **changes)


def submission(*lines: ClaimLine, **changes: Any) -> ClaimSubmission:
    return ledger_form(claim(*lines, **changes), KEYER)


class LedgerDouble:
    """Contracts over one in-memory state: ``invoke`` commits a block per successful call."""

    def __init__(self) -> None:
        self.state = MemoryStateStore()
        self.registry = default_registry()
        self.tx = itertools.count(1)
        self.seed("_gov", "org/Org1", b"\xa0")
        self.seed("_gov", "org/Org2", b"\xa0")
        self.seed("_gov", "org/Org3", b"\xa0")

    def seed(self, namespace: str, key: str, value: bytes | msgspec.Struct) -> None:
        raw = value if isinstance(value, bytes) else encode_value(value, type(value))
        height = self.state.height()
        self.state.commit(
            BlockUpdate(height, [StateWrite(namespace, key, raw, (height, 0), f"seed{height}")])
        )

    def _simulation(self, contract: str, org: str, day: int, read_only: bool) -> Simulation:
        n = next(self.tx)
        creator = MemberCert(org, "user", Role.CLIENT, b"\x01" * 32, n, 0)
        return Simulation(
            self.state,
            self.registry.get(contract, "1.0"),
            tx_id=f"{n:08x}" + "ab" * 28,
            timestamp=day * DAY_MS + 3_600_000,
            creator=creator,
            read_only=read_only,
        )

    def invoke(
        self, contract: str, fn: str, args: list[Any], *, org: str = PAYER, day: int = JAN1 + 70
    ) -> Any:
        sim = self._simulation(contract, org, day, read_only=False)
        result = sim.contract.call(sim, fn, args, "invoke")
        height = self.state.height()
        writes = [
            StateWrite(ns.namespace, w.key, w.value, (height, 0), sim.tx_id)
            for ns in sim.rwsets()
            for w in ns.writes
        ]
        self.state.commit(BlockUpdate(height, writes))
        return result

    def query(self, contract: str, fn: str, args: list[Any]) -> Any:
        sim = self._simulation(contract, PROVIDER, JAN1, read_only=True)
        return sim.contract.call(sim, fn, args, "query")

    def written(self) -> list[tuple[str, str]]:
        return [(ns, key) for ns in ("plans", "claims") for key, _v in self.state.range(ns, "", "")]


def plain(value: msgspec.Struct) -> Any:
    return msgspec.to_builtins(value)


def record(cov: Coverage | None = None, payer: str = PAYER) -> CoverageRecord:
    return CoverageRecord(cov or coverage(), payer, 0)


def inputs(
    *,
    the_plan: BenefitPlan | None = None,
    coverages: list[CoverageRecord] | None = None,
    accumulators: list[YearAccumulator] | None = None,
    received: int = JAN1 + 70,
    **changes: Any,
) -> AdjudicationInputs:
    base = AdjudicationInputs(
        coverages=[record()] if coverages is None else coverages,
        revoked=[],
        plan=PlanRecord(the_plan or plan(), 1, 0),
        accumulators=accumulators or [],
        authorization=None,
        authorization_used=0,
        prior_lines=[],
        received=received,
        adjudicated=received,
        control_number="ab" * 16,
    )
    return msgspec.structs.replace(base, **changes)


def run(sub: ClaimSubmission, **changes: Any) -> Outcome:
    return adjudicate(sub, inputs(**changes))


def reasons(adj: LineAdjudication) -> list[tuple[str, str, int]]:
    return [(a.group, a.reason, a.amount_cents) for a in adj.adjustments]
