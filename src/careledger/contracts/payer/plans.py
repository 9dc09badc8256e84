"""The ``plans`` contract: benefit plans published by payers, and members' coverage.

A payer organisation publishes a :class:`~careledger.contracts.payer.benefits.BenefitPlan` (fee
schedule, deductible, copay, coinsurance, out-of-pocket maximum, prior-authorization codes,
timely-filing limit, plan year) and enrols members: a
:class:`~careledger.contracts.payer.benefits.Coverage` links a member's pseudonymous handle to a
plan for a period, optionally naming the status-list entry of the member's coverage credential (the
``claims`` contract treats a revoked credential as ended coverage). Only identities of the
organisation that owns a plan may change it or enrol members in it; the owner is fixed by the first
publication. A payer also lists its *trading partners*, the organisations it accepts claims from
(``admit``): the ``claims`` contract refuses a claim from any other organisation, so no member can
spend another's accumulators or authorization units.

The ``claims`` contract reads plans and coverages cross-namespace (``plan/<plan id>``,
``coverage/<member>/<plan id>``). Everything here passes the PHI guard's strict layer: plan ids,
codes, amounts, day numbers, a handle.
"""

from __future__ import annotations

from typing import Any

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query
from careledger.contracts.payer.benefits import (
    BenefitPlan,
    Coverage,
    CoverageRecord,
    PlanId,
    PlanRecord,
    TradingPartner,
    coverage_key,
    partner_key,
)
from careledger.contracts.phi_guard import Handle, OrgId, check_schema, check_struct, require
from careledger.errors import ContractError, InvalidInput

NAMESPACE = "plans"
MAX_COVERAGES_PER_MEMBER = 64

for _schema in (PlanRecord, CoverageRecord, BenefitPlan, Coverage, TradingPartner):
    check_schema(_schema)


def plan_key(plan: str) -> str:
    return f"plan/{plan}"


def check_plan(plan: BenefitPlan) -> None:
    """What the types cannot say about a plan; :class:`InvalidInput` naming the field."""
    codes = [b.code for b in plan.benefits]
    if codes != sorted(set(codes)):
        raise InvalidInput("plan.benefits: codes must be unique and in ascending order")
    if plan.excluded != sorted(set(plan.excluded)):
        raise InvalidInput("plan.excluded: codes must be unique and in ascending order")
    if set(codes) & set(plan.excluded):
        raise InvalidInput("plan.excluded: a code cannot be both covered and excluded")
    if plan.deductible_cents > plan.oop_max_cents:
        raise InvalidInput("plan.deductible_cents: exceeds the out-of-pocket maximum")


class Plans(Contract):
    name = NAMESPACE
    version = "1.0"
    schemas = {"plan": PlanRecord, "coverage": CoverageRecord, "partner": TradingPartner}

    @invoke
    def publish(self, stub: Stub, plan: BenefitPlan) -> dict[str, Any]:
        """Publish ``plan`` or a new version of it; only its payer organisation may."""
        check_struct(plan)
        check_plan(plan)
        if stub.creator.org != plan.payer:
            raise ContractError(
                f"plans/not-owner: {stub.creator.org} cannot publish a plan of {plan.payer}"
            )
        current: PlanRecord | None = stub.get(plan_key(plan.plan))
        if current is not None and current.plan.payer != plan.payer:
            raise ContractError(
                f"plans/not-owner: plan {plan.plan} belongs to {current.plan.payer}"
            )
        version = 1 if current is None else current.version + 1
        record = PlanRecord(plan, version, stub.timestamp)
        stub.put(plan_key(plan.plan), record)
        stub.emit("plan.published", {"plan": plan.plan, "payer": plan.payer, "version": version})
        return {"plan": plan.plan, "version": version}

    @invoke
    def enrol(self, stub: Stub, coverage: Coverage) -> dict[str, Any]:
        """Cover a member by a plan for a period (or change that coverage's period); only the
        plan's payer organisation may."""
        check_struct(coverage)
        if coverage.end < coverage.start:
            raise InvalidInput("coverage.end: before coverage.start")
        current: PlanRecord | None = stub.get(plan_key(coverage.plan))
        if current is None:
            raise ContractError(f"plans/unknown-plan: no plan {coverage.plan}")
        if stub.creator.org != current.plan.payer:
            raise ContractError(
                f"plans/not-owner: {stub.creator.org} cannot enrol members in "
                f"{current.plan.payer}'s plan {coverage.plan}"
            )
        key = coverage_key(coverage.member, coverage.plan)
        if stub.get(key) is None:
            held = stub.range(f"coverage/{coverage.member}/", f"coverage/{coverage.member}0")
            if len(held) >= MAX_COVERAGES_PER_MEMBER:
                raise ContractError(
                    f"plans/too-many: a member holds at most {MAX_COVERAGES_PER_MEMBER} coverages"
                )
        stub.put(key, CoverageRecord(coverage, current.plan.payer, stub.timestamp))
        stub.emit(
            "coverage.enrolled",
            {"member": coverage.member, "plan": coverage.plan, "payer": current.plan.payer},
        )
        return {"member": coverage.member, "plan": coverage.plan}

    @invoke
    def admit(self, stub: Stub, submitter: str, active: bool) -> dict[str, Any]:
        """The creator's organisation (a payer) accepts claims from ``submitter``, or stops."""
        require(submitter, OrgId, "submitter")
        if stub.read_namespace("_gov", f"org/{submitter}") is None:
            raise ContractError(f"plans/unknown-org: {submitter} is not an organisation")
        payer = stub.creator.org
        stub.put(
            partner_key(payer, submitter), TradingPartner(payer, submitter, active, stub.timestamp)
        )
        stub.emit("partner.changed", {"payer": payer, "submitter": submitter, "active": active})
        return {"payer": payer, "submitter": submitter, "active": active}

    @query
    def partners(self, stub: Stub, payer: str) -> list[dict[str, Any]]:
        """The organisations ``payer`` accepts claims from (and those it stopped)."""
        require(payer, OrgId, "payer")
        return [
            msgspec.to_builtins(record)
            for _key, record in stub.range(f"partner/{payer}/", f"partner/{payer}0")
        ]

    @query
    def plan(self, stub: Stub, plan: str) -> dict[str, Any] | None:
        """The published plan ``plan`` with its version, or None."""
        require(plan, PlanId, "plan")
        found: PlanRecord | None = stub.get(plan_key(plan))
        return None if found is None else msgspec.to_builtins(found)

    @query
    def coverages(self, stub: Stub, member: str) -> list[dict[str, Any]]:
        """Every coverage of ``member`` (a pseudonymous handle), with its payer."""
        require(member, Handle, "member")
        return [
            msgspec.to_builtins(record)
            for _key, record in stub.range(f"coverage/{member}/", f"coverage/{member}0")
        ]
