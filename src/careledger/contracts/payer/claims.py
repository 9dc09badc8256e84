"""The ``claims`` contract: claims adjudicated on every endorser, the same way.

``submit`` takes a :class:`~careledger.contracts.payer.values.ClaimSubmission` (the ledger form of a
claim: keyed hashes, codes, day numbers, cents — see :mod:`careledger.payer.ledger_form`), gathers
what the result depends on from committed state — the member's coverages and the plan (``plans``
namespace), the coverage credential's revocation bit (``status_lists``), the prior authorization
(``prior_auth``), this namespace's accumulators, authorization usage and duplicate index — and runs
the pure engine :func:`careledger.contracts.payer.adjudication.adjudicate`. Every read is in the
read set, so a claim adjudicated against accumulators another claim changed in the same block is
invalidated (MVCC) rather than double-counting the deductible.

State (all keyed by hashes, handles, plan ids and years):

* ``adjudication/<claim key>`` — the :class:`~careledger.contracts.payer.values.ClaimAdjudication`;
* ``pending/<claim key>`` — the submission of a claim pended as a suspect duplicate, until the
  payer's ``review``;
* ``accumulator/<member>/<plan>/<year>`` — PR 1 / PR 3 / PR 2 sums of the plan year;
* ``authuse/<authorization number>`` — units of a prior authorization already paid;
* ``dupline/<sha256(payer, member, code)>/<claim key>/<line>`` — processed lines, for duplicates;
* ``reversal/<claim key>/<payer claim control number>`` — the reversal (``CLP02`` 22) of an
  adjudication by a void (frequency 8, which also frees the claim number) or a replacement (7,
  which is then adjudicated afresh).

Refusals are :class:`ClaimRefused` with a machine code (``claims/duplicate-submission``,
``claims/no-original``, ``claims/not-payer``…); a denial is a result (status 4 with its
CARCs), not a refusal.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query
from careledger.contracts.payer.adjudication import (
    AdjudicationInputs,
    PriorLine,
    Review,
    YearAccumulator,
    adjudicate,
    select_coverage,
    years_needed,
)
from careledger.contracts.payer.benefits import (
    Accumulator,
    CoverageRecord,
    CredentialStatus,
    PlanId,
    PlanRecord,
    TradingPartner,
    accumulator_key,
    partner_key,
    plan_year,
)
from careledger.contracts.payer.plans import NAMESPACE as PLANS_NAMESPACE
from careledger.contracts.payer.plans import plan_key
from careledger.contracts.payer.reversal import give_back, reverse
from careledger.contracts.payer.values import (
    AuthorizationRecord,
    ClaimAdjudication,
    ClaimSubmission,
)
from careledger.contracts.phi_guard import Handle, HexDigest, check_schema, check_struct, require
from careledger.contracts.status_lists import published_bit
from careledger.contracts.values import decode_value
from careledger.errors import ContractError, InvalidInput

NAMESPACE = "claims"
PRIOR_AUTH_NAMESPACE = "prior_auth"
DAY_MS = 86_400_000
REPLACEMENT, VOID = "7", "8"


class AuthorizationUse(msgspec.Struct, frozen=True):
    """Units of one prior authorization paid so far."""

    units: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


class ClaimRefused(ContractError):
    """A submission the contract will not adjudicate; ``code`` says why, for machines."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


for _schema in (ClaimAdjudication, ClaimSubmission, Accumulator, AuthorizationUse, PriorLine):
    check_schema(_schema)


def adjudication_key(claim_key: str) -> str:
    return f"adjudication/{claim_key}"


def dup_prefix(payer: str, member: str, code: str) -> str:
    """Duplicates are within one payer: the same service billed to a secondary payer is
    coordination of benefits, not a duplicate."""
    digest = hashlib.sha256(f"{payer}\x00{member}\x00{code}".encode()).hexdigest()
    return f"dupline/{digest}/"


def check_submission(claim: ClaimSubmission) -> None:
    """Shape, totals and order; :class:`InvalidInput` naming the field."""
    check_struct(claim)
    total = sum(line.charge_cents for line in claim.lines)
    if total != claim.total_charge_cents:
        raise InvalidInput(
            f"claim: total charge {claim.total_charge_cents} is not the sum of the lines ({total})"
        )
    numbers = [line.line for line in claim.lines]
    if numbers != sorted(set(numbers)):
        raise InvalidInput("claim.lines: line numbers must be unique and ascending")
    for i, line in enumerate(claim.lines):
        if line.service_to < line.service_from:
            raise InvalidInput(f"claim.lines[{i}].service_to: before service_from")
        if line.code.startswith("NU:") and claim.kind == "professional":
            raise InvalidInput(f"claim.lines[{i}].code: a professional line needs a HCPCS code")
    if sum(o.paid_cents for o in claim.other_coverage) > claim.total_charge_cents:
        raise InvalidInput("claim.other_coverage: prior payers paid more than the claim charges")
    if claim.frequency_code in (REPLACEMENT, VOID) and claim.original_reference is None:
        raise InvalidInput(
            "claim.original_reference: a replacement or void names the payer claim control "
            "number of the claim it changes (REF*F8)"
        )


def _revoked(stub: Stub, status: CredentialStatus) -> bool:
    """The revocation bit of a coverage credential, from the published status list (no list
    published: nothing revoked, the credential itself is off chain)."""
    return published_bit(stub, status.list_url, status.index, "revocation") is True


class Claims(Contract):
    name = NAMESPACE
    version = "1.0"
    schemas = {
        "adjudication": ClaimAdjudication,
        "pending": ClaimSubmission,
        "accumulator": Accumulator,
        "authuse": AuthorizationUse,
        "dupline": PriorLine,
        "reversal": ClaimAdjudication,
    }

    @invoke
    def submit(self, stub: Stub, claim: ClaimSubmission) -> dict[str, Any]:
        """Adjudicate ``claim`` and record the result; returns the summary."""
        check_submission(claim)
        self._check_submitter(stub, claim.payer)
        key = adjudication_key(claim.claim_key)
        existing: ClaimAdjudication | None = stub.get(key)
        if claim.frequency_code not in (REPLACEMENT, VOID):
            if existing is not None:
                raise ClaimRefused(
                    "claims/duplicate-submission",
                    "this claim (payer, billing provider, patient control number) is already "
                    "adjudicated; send a replacement or a new claim number",
                )
            today = stub.timestamp // DAY_MS
            return self._adjudicate(stub, claim, "none", today, stub.creator.org)
        if existing is None or existing.payer_claim_control_number != claim.original_reference:
            raise ClaimRefused(
                "claims/no-original",
                "no adjudication of this claim with that payer claim control number (REF*F8)",
            )
        if stub.creator.org not in (existing.submitter, existing.payer):
            raise ClaimRefused(
                "claims/not-submitter",
                "only the organisation that submitted a claim, or its payer, replaces or voids it",
            )
        if existing.disposition == "pended":
            raise ClaimRefused("claims/original-pended", "the claim it changes awaits review")
        reversal = self._reverse(stub, existing)
        if claim.frequency_code == VOID:
            stub.delete(key)
            return {
                "claim_key": reversal.claim_key,
                "payer": reversal.payer,
                "status": reversal.status,
                "disposition": reversal.disposition,
                "paid_cents": reversal.paid_cents,
                "patient_responsibility_cents": reversal.patient_responsibility_cents,
                "payer_claim_control_number": reversal.payer_claim_control_number,
            }
        today = stub.timestamp // DAY_MS
        summary = self._adjudicate(stub, claim, "none", today, existing.submitter)
        return {**summary, "reversed": reversal.payer_claim_control_number}

    def _check_submitter(self, stub: Stub, payer: str) -> None:
        org = stub.creator.org
        if org == payer:
            return
        raw = stub.read_namespace(PLANS_NAMESPACE, partner_key(payer, org))
        if raw is None or not decode_value(raw, TradingPartner).active:
            raise ClaimRefused(
                "claims/not-a-trading-partner", f"{payer} does not accept claims from {org}"
            )

    def _reverse(self, stub: Stub, original: ClaimAdjudication) -> ClaimAdjudication:
        """Record the reversal of ``original`` and undo what it accrued: accumulators,
        authorization units, its lines in the duplicate index."""
        reversal = reverse(original, stub.timestamp // DAY_MS)
        check_struct(reversal)
        control = original.payer_claim_control_number
        stub.put(f"reversal/{original.claim_key}/{control}", reversal)
        entries: dict[int, PriorLine] = {}
        for ln in original.lines:
            prefix = dup_prefix(original.payer, original.member, ln.code)
            key = f"{prefix}{original.claim_key}/{ln.line:03d}"
            entry: PriorLine | None = stub.get(key)
            if entry is not None:
                entries[ln.line] = entry
                stub.delete(key)
        raw_plan = (
            None
            if original.plan is None
            else stub.read_namespace(PLANS_NAMESPACE, plan_key(original.plan))
        )
        if raw_plan is not None and entries:
            plan: PlanRecord = decode_value(raw_plan, PlanRecord)
            years = sorted({plan_year(plan.plan, e.service_from) for e in entries.values()})
            keys = {y: accumulator_key(original.member, plan.plan.plan, y) for y in years}
            before = {y: stub.get(keys[y]) or Accumulator() for y in years}
            after, units = give_back(original, entries, plan.plan, before)
            for year in years:
                if after[year] != before[year]:
                    stub.put(keys[year], after[year])
            if units and original.prior_authorization is not None:
                use_key = f"authuse/{original.prior_authorization}"
                use: AuthorizationUse | None = stub.get(use_key)
                if use is not None:
                    stub.put(use_key, AuthorizationUse(max(0, use.units - units)))
        stub.emit(
            "claim.reversed",
            {"claim_key": original.claim_key, "payer": original.payer, "control": control},
        )
        return reversal

    @invoke
    def review(self, stub: Stub, claim_key: str, duplicate: bool) -> dict[str, Any]:
        """The payer's decision on a claim pended as a suspect duplicate: ``duplicate`` denies
        the suspect lines (OA 18), otherwise the claim is adjudicated without them counting."""
        require(claim_key, HexDigest, "claim_key")
        pending: ClaimSubmission | None = stub.get(f"pending/{claim_key}")
        if pending is None:
            raise ClaimRefused("claims/not-pended", "no claim pended under that key")
        if stub.creator.org != pending.payer:
            raise ClaimRefused(
                "claims/not-payer", f"only {pending.payer} may review its pended claims"
            )
        held: ClaimAdjudication | None = stub.get(adjudication_key(claim_key))
        received = stub.timestamp // DAY_MS if held is None else held.adjudicated
        submitter = None if held is None else held.submitter
        stub.delete(f"pending/{claim_key}")
        decision: Review = "duplicate" if duplicate else "not-duplicate"
        return self._adjudicate(stub, pending, decision, received, submitter)

    def _adjudicate(
        self,
        stub: Stub,
        claim: ClaimSubmission,
        review: Review,
        received: int,
        submitter: str | None,
    ) -> dict[str, Any]:
        if stub.read_namespace("_gov", f"org/{claim.payer}") is None:
            raise ClaimRefused("claims/unknown-payer", f"{claim.payer} is not an organisation")
        coverages = [
            decode_value(raw, CoverageRecord)
            for _k, raw in stub.range_namespace(
                PLANS_NAMESPACE, f"coverage/{claim.member}/", f"coverage/{claim.member}0"
            )
        ]
        own = [c for c in coverages if c.payer == claim.payer]
        revoked = [
            c.coverage.plan
            for c in own
            if c.coverage.credential is not None and _revoked(stub, c.coverage.credential)
        ]
        chosen = select_coverage(claim, own, revoked)
        plan: PlanRecord | None = None
        accumulators: list[YearAccumulator] = []
        if chosen is not None:
            raw_plan = stub.read_namespace(PLANS_NAMESPACE, plan_key(chosen.coverage.plan))
            if raw_plan is None:
                raise ClaimRefused("claims/unknown-plan", f"no plan {chosen.coverage.plan}")
            plan = decode_value(raw_plan, PlanRecord)
            for year in years_needed(claim, plan.plan):
                found = stub.get(accumulator_key(claim.member, plan.plan.plan, year))
                accumulators.append(YearAccumulator(year, found or Accumulator()))
        authorization, used = self._authorization(stub, claim)
        prior: list[PriorLine] = []
        for code in sorted({line.code for line in claim.lines}):
            prefix = dup_prefix(claim.payer, claim.member, code)
            prior.extend(line for _k, line in stub.range(prefix, prefix[:-1] + "0"))
        inputs = AdjudicationInputs(
            coverages=own,
            revoked=revoked,
            plan=plan,
            accumulators=accumulators,
            authorization=authorization,
            authorization_used=used,
            prior_lines=prior,
            received=received,
            adjudicated=stub.timestamp // DAY_MS,
            control_number=stub.tx_id[:32],
            review=review,
        )
        outcome = adjudicate(claim, inputs)
        result = msgspec.structs.replace(outcome.adjudication, submitter=submitter)
        check_struct(result)
        stub.put(adjudication_key(claim.claim_key), result)
        if result.disposition == "pended":
            stub.put(f"pending/{claim.claim_key}", claim)
        if plan is not None:
            before = {entry.year: entry.accumulator for entry in accumulators}
            for entry in outcome.accumulators:
                if entry.accumulator != before.get(entry.year):
                    key = accumulator_key(claim.member, plan.plan.plan, entry.year)
                    stub.put(key, entry.accumulator)
        if authorization is not None and outcome.authorization_used != used:
            stub.put(
                f"authuse/{authorization.number}", AuthorizationUse(outcome.authorization_used)
            )
        for line in outcome.new_lines:
            prefix = dup_prefix(claim.payer, claim.member, line.code)
            stub.put(f"{prefix}{line.claim_key}/{line.line:03d}", line)
        summary = {
            "claim_key": result.claim_key,
            "payer": result.payer,
            "status": result.status,
            "disposition": result.disposition,
            "paid_cents": result.paid_cents,
            "patient_responsibility_cents": result.patient_responsibility_cents,
            "payer_claim_control_number": result.payer_claim_control_number,
        }
        stub.emit(f"claim.{result.disposition}", summary)
        return summary

    def _authorization(
        self, stub: Stub, claim: ClaimSubmission
    ) -> tuple[AuthorizationRecord | None, int]:
        if claim.prior_authorization is None:
            return None, 0
        number = claim.prior_authorization
        raw = stub.read_namespace(PRIOR_AUTH_NAMESPACE, f"authorization/{number}")
        if raw is None:
            return None, 0
        record: AuthorizationRecord = decode_value(raw, AuthorizationRecord)
        use: AuthorizationUse | None = stub.get(f"authuse/{number}")
        return record, 0 if use is None else use.units

    @query
    def adjudication(self, stub: Stub, claim_key: str) -> dict[str, Any] | None:
        """The stored adjudication of ``claim_key``, or None."""
        require(claim_key, HexDigest, "claim_key")
        found: ClaimAdjudication | None = stub.get(adjudication_key(claim_key))
        return None if found is None else msgspec.to_builtins(found)

    @query
    def accumulator(self, stub: Stub, member: str, plan: str, year: int) -> dict[str, int]:
        """A member's cost sharing in a plan year (zeros when nothing accrued yet)."""
        require(member, Handle, "member")
        require(plan, PlanId, "plan")
        found: Accumulator | None = stub.get(accumulator_key(member, plan, year))
        acc = found or Accumulator()
        return {
            "deductible_cents": acc.deductible_cents,
            "copay_cents": acc.copay_cents,
            "coinsurance_cents": acc.coinsurance_cents,
            "out_of_pocket_cents": acc.out_of_pocket_cents,
        }

    @query
    def reversals(self, stub: Stub, claim_key: str) -> list[dict[str, Any]]:
        """Every reversal recorded for ``claim_key`` (by voids and replacements)."""
        require(claim_key, HexDigest, "claim_key")
        prefix = f"reversal/{claim_key}/"
        return [msgspec.to_builtins(value) for _k, value in stub.range(prefix, prefix[:-1] + "0")]
