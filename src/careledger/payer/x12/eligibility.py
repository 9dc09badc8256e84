"""Eligibility over X12: read a 270 inquiry, write the 271 answer (005010X279A1).

The answer's content comes from :class:`EligibilityAnswer`, filled by the payer side from the
plan contract and the member's accumulators (active or not, plan, deductible and out-of-pocket
remaining, copay/coinsurance, which codes need prior authorization); this module only writes it
as ``EB`` segments (``AAA*N**75`` when the member is not found). pyx12 has no 5010 270/271 map:
the tests check both structurally against golden files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from careledger.payer.x12.elements import d8, date_problem, iso
from careledger.payer.x12.envelope import Interchange, TransactionSet
from careledger.payer.x12.errors import X12Error
from careledger.payer.x12.tokens import DEFAULT_LIMITS, Limits
from careledger.payer.x12.writer import Envelope, InterchangeWriter, money

VERSION = "005010X279A1"


@dataclass(frozen=True, slots=True)
class EligibilityRequest:
    """One subscriber inquiry of a 270 (PHI: member id, name, birth date; off chain)."""

    reference: str  # BHT03
    trace: str  # TRN02 of 2000C: echoed in the 271
    trace_originator: str  # TRN03
    payer_name: str
    payer_id: str
    provider_name: str
    provider_id_qualifier: str  # NM108: XX (NPI) or SV
    provider_id: str
    member_id: str
    last_name: str
    first_name: str
    birth_date: str  # YYYY-MM-DD or ""
    service_date: str  # YYYY-MM-DD or "" (DTP*291)
    service_types: tuple[str, ...]  # EQ01 codes (30 = health benefit plan coverage)


@dataclass(frozen=True, slots=True)
class Benefit:
    """One ``EB`` segment beyond the ones :class:`EligibilityAnswer` writes itself."""

    code: str  # EB01 (1 active, 6 inactive, A coinsurance, B copay, C deductible, G OOP …)
    service_type: str = "30"
    coverage_level: str = "IND"
    period: str = ""  # EB06: 23 calendar year, 29 remaining, 27 visit
    amount_cents: int | None = None
    percent: str = ""  # EB08, as X12 writes it: "0.2" is 20 %
    authorization_required: str = ""  # EB11: Y / N / U
    in_network: str = ""  # EB12: Y / N / W
    procedure: str = ""  # EB13-2 (with EB13-1 HC)


@dataclass(frozen=True, slots=True)
class EligibilityAnswer:
    """What the payer answers; ``found=False`` writes the not-found rejection instead."""

    found: bool = True
    active: bool = False
    plan: str = ""
    coverage_start: str = ""  # YYYY-MM-DD
    coverage_end: str = ""
    deductible_cents: int | None = None
    remaining_deductible_cents: int | None = None
    out_of_pocket_max_cents: int | None = None
    remaining_out_of_pocket_cents: int | None = None
    copay_cents: int | None = None
    coinsurance_percent: int | None = None  # whole percent
    prior_authorization_codes: tuple[str, ...] = ()
    benefits: tuple[Benefit, ...] = field(default_factory=tuple)

    def eb(self) -> list[Benefit]:
        """The EB segments, in a fixed order (deterministic output)."""
        if not self.active:
            return [Benefit("6")]
        out = [Benefit("1")]
        for code, full, left in (
            ("C", self.deductible_cents, self.remaining_deductible_cents),
            ("G", self.out_of_pocket_max_cents, self.remaining_out_of_pocket_cents),
        ):
            if full is not None:
                out.append(Benefit(code, period="23", amount_cents=full, in_network="Y"))
            if left is not None:
                out.append(Benefit(code, period="29", amount_cents=left, in_network="Y"))
        if self.copay_cents is not None:
            out.append(Benefit("B", period="27", amount_cents=self.copay_cents, in_network="Y"))
        if self.coinsurance_percent is not None:
            percent = _percent(self.coinsurance_percent)
            out.append(Benefit("A", period="27", percent=percent, in_network="Y"))
        for code in sorted(self.prior_authorization_codes):
            out.append(Benefit("1", service_type="", authorization_required="Y", procedure=code))
        out.extend(self.benefits)
        return out


def read_270(stream: BinaryIO, limits: Limits = DEFAULT_LIMITS) -> list[EligibilityRequest]:
    """Every subscriber inquiry in a 270 interchange; :class:`X12Error` if the file is unsound."""
    requests: list[EligibilityRequest] = []
    interchange = Interchange(stream, limits)
    for group in interchange.groups():
        for tx in group.sets():
            if tx.outcome.problems or tx.header.id != "270":
                tx.drain()
                codes = ", ".join(text for _, text in tx.outcome.problems) or tx.header.id
                raise X12Error("unsupported", f"not a 270 this reader accepts: {codes}")
            requests.extend(_requests(tx))
            if tx.outcome.problems:
                texts = "; ".join(text for _, text in tx.outcome.problems)
                raise X12Error("envelope", f"270 set {tx.header.control_number}: {texts}")
        if group.problems:
            raise X12Error("envelope", "; ".join(text for _, text in group.problems))
    return requests


def _requests(tx: TransactionSet) -> Iterator[EligibilityRequest]:
    component = tx.group._interchange.separators.component
    state: dict[str, str] = {}
    types: list[str] = []
    level = ""
    for seg in tx.body():
        sid = seg.id
        if sid == "BHT":
            state["reference"] = seg.get(3)
        elif sid == "HL":
            if level in ("22", "23") and "member_id" in state:
                yield _request(state, types)
                types = []
            level = seg.get(3)
        elif sid == "NM1":
            code = seg.get(1)
            if code == "PR":
                state.update(payer_name=seg.get(3), payer_id=seg.get(9))
            elif code == "1P":
                state.update(
                    provider_name=seg.get(3), provider_q=seg.get(8), provider_id=seg.get(9)
                )
            elif code == "IL":
                if not seg.get(9):
                    raise X12Error("content", "NM1*IL without a member id", segment=seg.ordinal)
                state.update(member_id=seg.get(9), last=seg.get(3), first=seg.get(4))
                state.pop("birth", None)
                state.pop("service", None)
        elif sid == "TRN":
            state.update(trace=seg.get(2), originator=seg.get(3))
        elif sid == "DMG" and seg.get(2):
            if date_problem(seg.get(2)):
                raise X12Error("content", "DMG02 is not a valid date", segment=seg.ordinal)
            state["birth"] = iso(seg.get(2))
        elif sid == "DTP" and seg.get(1) == "291":
            value = seg.get(3).split("-")[0]
            if date_problem(value):
                raise X12Error("content", "DTP03 is not a valid date", segment=seg.ordinal)
            state["service"] = iso(value)
        elif sid == "EQ":
            types.extend(part for part in seg.get(1).split(component)[:1] if part)
    if "member_id" in state:
        yield _request(state, types)


def _request(state: dict[str, str], types: list[str]) -> EligibilityRequest:
    return EligibilityRequest(
        reference=state.get("reference", ""),
        trace=state.get("trace", ""),
        trace_originator=state.get("originator", ""),
        payer_name=state.get("payer_name", ""),
        payer_id=state.get("payer_id", ""),
        provider_name=state.get("provider_name", ""),
        provider_id_qualifier=state.get("provider_q", "XX"),
        provider_id=state.get("provider_id", ""),
        member_id=state["member_id"],
        last_name=state.get("last", ""),
        first_name=state.get("first", ""),
        birth_date=state.get("birth", ""),
        service_date=state.get("service", ""),
        service_types=tuple(types) or ("30",),
    )


def write_271(
    out: BinaryIO,
    envelope: Envelope,
    answers: list[tuple[EligibilityRequest, EligibilityAnswer]],
) -> None:
    """One 271 set per answered request, in one interchange."""
    w = InterchangeWriter(out, envelope, transaction="271", version=VERSION)
    moment = envelope.moment
    for request, answer in answers:
        w.begin_set()
        w.segment(
            "BHT", "0022", "11", request.reference or "0",
            moment.strftime("%Y%m%d"), moment.strftime("%H%M"),
        )  # fmt: skip
        w.segment("HL", "1", "", "20", "1")
        w.segment("NM1", "PR", "2", request.payer_name, "", "", "", "", "PI", request.payer_id)
        w.segment("HL", "2", "1", "21", "1")
        w.segment(
            "NM1", "1P", "2", request.provider_name, "", "", "", "",
            request.provider_id_qualifier, request.provider_id,
        )  # fmt: skip
        w.segment("HL", "3", "2", "22", "0")
        w.segment("TRN", "2", request.trace or "0", request.trace_originator)
        w.segment(
            "NM1", "IL", "1", request.last_name, request.first_name, "", "", "", "MI",
            request.member_id,
        )  # fmt: skip
        if not answer.found:
            w.segment("AAA", "N", "", "75", "C")
        else:
            if request.birth_date:
                w.segment("DMG", "D8", d8(request.birth_date))
            if answer.coverage_start:
                end = answer.coverage_end or answer.coverage_start
                w.segment("DTP", "346", "D8", d8(answer.coverage_start))
                w.segment("DTP", "347", "D8", d8(end))
            for index, benefit in enumerate(answer.eb()):
                _eb(w, benefit, answer.plan if index == 0 else "")
        w.end_set()
    w.close()


def _eb(w: InterchangeWriter, b: Benefit, plan: str) -> None:
    amount = money(b.amount_cents) if b.amount_cents is not None else ""
    procedure = ["HC", b.procedure] if b.procedure else ""
    w.segment(
        "EB", b.code, b.coverage_level, b.service_type, "", plan, b.period, amount, b.percent,
        "", "", b.authorization_required, b.in_network, procedure,
    )  # fmt: skip


def _percent(whole: int) -> str:
    if not 0 <= whole <= 100:
        raise X12Error("content", f"coinsurance {whole}% is not a percentage")
    value = f"{whole / 100:.2f}".rstrip("0").rstrip(".")
    return value or "0"
