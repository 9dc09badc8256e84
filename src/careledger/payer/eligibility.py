"""``CoverageEligibilityRequest/$submit``: is this member covered, and for what.

The answer comes from an :class:`EligibilitySource`: the member's coverage on the date of
service, remaining deductible and out-of-pocket amounts (cents) and the codes that need prior
authorization. :class:`MemoryEligibility` is the in-memory implementation tests use;
:class:`LedgerEligibility` answers from the ``plans`` contract (coverages, the plan) and the
``claims`` contract's accumulators, through a node's queries by contract and function name. The
coverage credential's revocation is not checked here (the claims contract checks it at
adjudication).

The member is named in the request by ``patient.identifier`` (the member id); the payer turns it
into its keyed handle (:func:`careledger.payer.pas.bundles.member_handle`) before asking the
source, so the source, like the ledger, never sees the member id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import msgspec
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from careledger.contracts.payer.model import day_number
from careledger.errors import InvalidInput
from careledger.fhir.errors import Issue
from careledger.payer.pas.bundles import ORG_SYSTEM, PasBundleInvalid, member_handle

JSON = dict[str, Any]


@dataclass(frozen=True)
class CoverageAnswer:
    active: bool
    plan: str | None = None
    deductible_remaining: int = 0  # cents
    out_of_pocket_remaining: int = 0  # cents
    prior_auth_codes: tuple[str, ...] = ()  # HC:72148


class EligibilitySource(Protocol):
    """Coverage of a member (by handle) on a day (day number)."""

    async def coverage(self, member: str, day: int) -> CoverageAnswer: ...


@dataclass
class MemoryEligibility:
    """Coverage answers set by hand (tests, demos); anyone not listed is not covered."""

    members: dict[str, CoverageAnswer] = field(default_factory=dict)

    async def coverage(self, member: str, day: int) -> CoverageAnswer:
        return self.members.get(member, CoverageAnswer(active=False))


Evaluate = Callable[[str, str, list[Any]], Awaitable[Any]]


def plan_year(year_start_month: int, day: int) -> int:
    """The plan year (labelled by the calendar year it starts in) that ``day`` falls in."""
    when = date(1970, 1, 1) + timedelta(days=day)
    return when.year if when.month >= year_start_month else when.year - 1


class LedgerEligibility:
    """Coverage of ``payer``'s members from the ``plans`` and ``claims`` contracts."""

    def __init__(self, evaluate: Evaluate, payer: str) -> None:
        self._evaluate = evaluate
        self._payer = payer

    async def coverage(self, member: str, day: int) -> CoverageAnswer:
        records = await self._evaluate("plans", "coverages", [member])
        current = [
            r
            for r in records
            if r["payer"] == self._payer and r["coverage"]["start"] <= day <= r["coverage"]["end"]
        ]
        if not current:
            return CoverageAnswer(active=False)
        plan_id = current[0]["coverage"]["plan"]
        published = await self._evaluate("plans", "plan", [plan_id])
        if published is None:
            return CoverageAnswer(active=False)
        plan = published["plan"]
        year = plan_year(int(plan.get("year_start_month", 1)), day)
        spent = await self._evaluate("claims", "accumulator", [member, plan_id, year])
        deductible_left = max(0, plan["deductible_cents"] - spent["deductible_cents"])
        oop_left = max(0, plan["oop_max_cents"] - spent["out_of_pocket_cents"])
        codes = tuple(b["code"] for b in plan["benefits"] if b.get("prior_auth"))
        return CoverageAnswer(True, plan_id, deductible_left, oop_left, codes)


def _money(cents: int) -> JSON:
    return {"value": cents / 100, "currency": "USD"}


async def eligibility_response(
    raw: bytes, source: EligibilitySource, payer: str, secret: bytes
) -> JSON:
    """The CoverageEligibilityResponse for a CoverageEligibilityRequest (JSON bytes)."""
    try:
        request = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from None
    if not isinstance(request, dict) or request.get("resourceType") != "CoverageEligibilityRequest":
        raise PasBundleInvalid(
            [Issue("structure", "a CoverageEligibilityRequest is required", "resourceType")]
        )
    try:
        get_fhir_model_class("CoverageEligibilityRequest").model_validate(request)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = "CoverageEligibilityRequest." + ".".join(str(p) for p in err.get("loc", ()))
        raise PasBundleInvalid([Issue("value", str(err.get("msg")), where)]) from None
    identifier = (request.get("patient") or {}).get("identifier") or {}
    if not isinstance(identifier.get("value"), str):
        raise PasBundleInvalid(
            [
                Issue(
                    "required",
                    "patient.identifier carries the member id",
                    "CoverageEligibilityRequest.patient.identifier",
                )
            ]
        )
    when = request.get("servicedDate") or datetime.now(UTC).date().isoformat()
    try:
        day = day_number(str(when)[:10])
    except ValueError:
        raise InvalidInput("servicedDate is a date (YYYY-MM-DD)") from None
    handle = member_handle(secret, str(identifier.get("system") or ""), identifier["value"])
    answer = await source.coverage(handle, day)
    insurance: JSON = {"inforce": answer.active}
    if answer.active:
        insurance["item"] = [
            {
                "category": {"coding": [{"code": "30"}]},
                "benefit": [
                    {
                        "type": {"coding": [{"code": "deductible"}]},
                        "allowedMoney": _money(answer.deductible_remaining),
                    },
                    {
                        "type": {"coding": [{"code": "out-of-pocket"}]},
                        "allowedMoney": _money(answer.out_of_pocket_remaining),
                    },
                ],
            }
        ]
        for code in answer.prior_auth_codes:
            insurance["item"].append(
                {
                    "productOrService": {"coding": [{"code": code.split(":", 1)[-1]}]},
                    "authorizationRequired": True,
                }
            )
    response: JSON = {
        "resourceType": "CoverageEligibilityResponse",
        "status": "active",
        "purpose": request.get("purpose") or ["benefits"],
        "patient": request["patient"],
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "request": {"identifier": (request.get("identifier") or [{"value": "unidentified"}])[0]},
        "outcome": "complete",
        "insurer": {"identifier": {"system": ORG_SYSTEM, "value": payer}},
        "insurance": [insurance | {"coverage": {"display": answer.plan or "none"}}],
    }
    get_fhir_model_class("CoverageEligibilityResponse").model_validate(response)
    return response
