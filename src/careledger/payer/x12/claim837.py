"""Read 837P (005010X222A1) and 837I (005010X223A2) transaction sets into canonical claims.

One pass over a set's body segments does both jobs: it records the structural problems a 999
reports (IK3/IK4: unknown or misplaced segments, bad dates and amounts, a broken HL tree, a claim
without service lines) on the :class:`~careledger.payer.x12.envelope.TransactionSet`, and it
yields one :class:`ParsedClaim` per ``CLM`` as soon as the claim ends, so a set of thousands of
claims is held one claim at a time.

Mapping to :class:`careledger.contracts.payer.model.Claim` needs the payer's directory (which
organisation is this payer id, which pseudonymous handle has this member): see
:class:`ClaimDirectory`. A claim that is well-formed X12 but cannot become a canonical claim
(unknown payer or member, charges that do not add up, a code the model refuses) is not a 999
error; it carries a :class:`ClaimRejection` that the 277CA reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from careledger.payer.x12.claim837_map import (
    ClaimDirectory,
    ClaimPeople,
    ClaimRejection,
    ParsedClaim,
    RawClaim,
    Refused,
    claim_people,
    map_claim,
)
from careledger.payer.x12.claim837_rules import (
    IDENTIFIED,
    INSTITUTIONAL,
    KNOWN_SEGMENTS,
    LEVEL_NEEDS,
    LOOP_2310,
    LOOP_2420,
    NAMED,
)
from careledger.payer.x12.elements import date_problem, decimal_problem, period_problem, safe_cents
from careledger.payer.x12.envelope import SegmentProblem, TransactionSet
from careledger.payer.x12.errors import X12Error
from careledger.payer.x12.tokens import Segment


@dataclass(slots=True)
class _Entity:
    fields: dict[str, Any] = field(default_factory=dict)
    address: dict[str, str] = field(default_factory=dict)


class Claim837Reader:
    """Walk one 837 set: ``for parsed in Claim837Reader(tx, directory): ...``.

    ``directory=None`` checks structure only (for the 999 pass) and yields claims unmapped;
    with a directory every claim is mapped (the caller reads only sets the 999 accepted).
    """

    def __init__(self, tx: TransactionSet, directory: ClaimDirectory | None = None) -> None:
        self.tx = tx
        self.directory = directory
        self.version = tx.group.header.version
        self.institutional = self.version == INSTITUTIONAL
        self._component = tx.group._interchange.separators.component
        self._loop = "HEADER"
        self._hl: dict[str, str] = {}
        self._hl_count = 0
        self._level = ""  # HL03 of the level being read
        self._level_seen: set[str] = set()
        self._header: dict[str, str] = {}
        self._billing = _Entity()
        self._subscriber = _Entity()
        self._payer = _Entity()
        self._patient: _Entity | None = None
        self._current: _Entity | None = None
        self._claim: dict[str, Any] | None = None
        self._line: dict[str, Any] | None = None
        self._other: dict[str, Any] | None = None

    # -- problems ------------------------------------------------------------------------------

    def _problem(
        self,
        seg: Segment,
        code: str,
        text: str,
        element: int | None = None,
        ref: str = "",
        element_code: str = "",
        component: int | None = None,
    ) -> None:
        self.tx.add(
            SegmentProblem(
                segment_id=seg.id,
                position=self.tx.header.position(seg),
                loop=self._loop if self._loop[0].isdigit() else "",
                code=code,
                text=text,
                element=element,
                component=component,
                element_ref=ref,
                element_code=element_code,
                value=self._value(seg, element, component),
            )
        )

    def _value(self, seg: Segment, element: int | None, component: int | None) -> str:
        if not element:
            return ""
        value = seg.get(element)
        if component is None:
            return value
        parts = value.split(self._component)
        return parts[component - 1] if component <= len(parts) else ""

    def _element(self, seg: Segment, n: int, ref: str, problem: str | None, what: str) -> bool:
        if problem is None:
            return True
        code = "1" if not seg.get(n) else problem
        self._problem(seg, "8", f"{seg.id}{n:02d} {what}", n, ref, code)
        return False

    # -- walk ----------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[ParsedClaim]:
        first = True
        last: Segment | None = None
        for seg in self.tx.body():
            last = seg
            if first and seg.id != "BHT":
                self._problem(seg, "3", "BHT must follow ST")
            first = False
            done = self._segment(seg)
            if done is not None:
                yield done
        done = self._finish_claim(last)
        if done is not None:
            yield done
        self._close_level(last)
        if self._hl_count == 0 and last is not None:
            self._problem(last, "3", "no billing provider HL (2000A)")
        for key, loop in (("submitter_id", "1000A"), ("receiver_id", "1000B")):
            if key not in self._header and last is not None:
                self._problem(last, "3", f"loop {loop} (NM1*{key[:2].upper()}) missing")

    def _segment(self, seg: Segment) -> ParsedClaim | None:
        sid = seg.id
        if self._claim is None:
            self._level_seen.add(f"{sid}*{seg.get(1)}" if sid == "NM1" else sid)
        if sid not in KNOWN_SEGMENTS:
            self._problem(seg, "1", f"{sid} is not an 837 segment")
            return None
        if sid == "HL":
            done = self._finish_claim(seg)
            self._on_hl(seg)
            return done
        if sid == "CLM":
            done = self._finish_claim(seg)
            self._on_clm(seg)
            return done
        handler = _HANDLERS.get(sid)
        if handler is not None:
            handler(self, seg)
        return None

    def _on_bht(self, seg: Segment) -> None:
        self._element(seg, 4, "373", date_problem(seg.get(4)), "is not a valid date")
        self._header.update(reference=seg.get(3), created=seg.get(4))

    def _close_level(self, at: Segment | None) -> None:
        """A level must hold its required segments (billing provider name, SBR, …)."""
        missing = [
            need for need in LEVEL_NEEDS.get(self._level, ()) if need not in self._level_seen
        ]
        if missing and at is not None:
            self._problem(at, "3", f"level {self._level} lacks {', '.join(missing)}")
        self._level_seen = set()

    def _on_hl(self, seg: Segment) -> None:
        self._close_level(seg)
        self._level = seg.get(3)
        self._hl_count += 1
        self._line = self._other = None
        if seg.get(1) != str(self._hl_count):
            self._element(seg, 1, "628", "7", "is not the next HL number")
        level, parent = seg.get(3), seg.get(2)
        self._loop = {"20": "2000A", "22": "2000B", "23": "2000C"}.get(level, "2000")
        expected_parent = {"20": None, "22": "20", "23": "22"}
        if level not in expected_parent:
            self._element(seg, 3, "735", "7", f"level {level!r} is not 20, 22 or 23")
            return
        want = expected_parent[level]
        if want is None and parent:
            self._element(seg, 2, "734", "7", "a billing provider HL has no parent")
        elif want is not None and self._hl.get(parent) != want:
            self._element(seg, 2, "734", "7", f"parent {parent!r} is not a level {want} HL")
        self._hl[seg.get(1)] = level
        if level == "20":
            self._loop, self._billing = "2000A", _Entity()
            self._current = self._billing
        elif level == "22":
            self._loop, self._subscriber, self._payer = "2000B", _Entity(), _Entity()
            self._patient = None
            self._current = self._subscriber
        else:
            self._loop, self._patient = "2000C", _Entity()
            self._current = self._patient

    def _on_nm1(self, seg: Segment) -> None:
        code = seg.get(1)
        if not seg.get(3) and code in NAMED:
            self._element(seg, 3, "1035", "1", "name missing")
        if code in IDENTIFIED and len(seg.get(9)) < 2:
            self._element(seg, 9, "67", "1" if not seg.get(9) else "4", "identifier missing")
        names = {"name": seg.get(3), "first": seg.get(4), "type": seg.get(2), "id": seg.get(9)}
        loop = self._loop
        target: _Entity | None = None
        if loop == "HEADER" or loop.startswith("1000"):
            if code in ("41", "40"):
                self._loop = "1000A" if code == "41" else "1000B"
                key = "submitter" if code == "41" else "receiver"
                self._header[f"{key}_name"] = seg.get(3)
                self._header[f"{key}_id"] = seg.get(9)
            else:
                self._problem(seg, "2", f"NM1*{code} is not expected in the header")
            return
        if self._claim is None:
            if loop.startswith(("2000A", "2010A")):
                if code == "85":
                    self._loop, target = "2010AA", self._billing
                else:
                    self._loop = {"87": "2010AB", "PE": "2010AC"}.get(code, "2010A?")
            elif loop.startswith(("2000B", "2010B")):
                if code == "IL":
                    self._loop, target = "2010BA", self._subscriber
                elif code == "PR":
                    self._loop, target = "2010BB", self._payer
            elif code == "QC":
                self._loop, target = "2010CA", self._patient
        elif self._other is not None and self._line is None:
            self._loop = {"IL": "2330A", "PR": "2330B"}.get(code, "2330C")
            if code == "PR":
                self._other["payer"] = seg.get(9)
        elif self._line is not None:
            self._loop = LOOP_2420[self.version].get(code, "2420")
            if code == "82":
                self._line["rendering_npi"] = seg.get(9)
        else:
            self._loop = LOOP_2310[self.version].get(code, "2310")
            if code == "82":
                self._claim["rendering_npi"] = seg.get(9)
                self._claim["rendering"] = names
        self._current = target
        if target is not None:
            target.fields.update(names)

    def _on_address(self, seg: Segment) -> None:
        if self._current is None:
            return
        if seg.id == "N3":
            self._current.address.update(line1=seg.get(1), line2=seg.get(2))
        else:
            self._current.address.update(city=seg.get(1), state=seg.get(2), postal=seg.get(3))

    def _on_ref(self, seg: Segment) -> None:
        qualifier, value = seg.get(1), seg.get(2)
        if self._claim is not None and self._line is None and self._other is None:
            if qualifier == "G1":
                self._claim["prior_authorization"] = value
            elif qualifier == "F8":
                self._claim["original_reference"] = value
        elif self._current is self._billing and qualifier == "EI":
            self._billing.fields["tax_id"] = value

    def _on_prv(self, seg: Segment) -> None:
        if self._current is self._billing:
            self._billing.fields["taxonomy"] = seg.get(3)

    def _on_per(self, seg: Segment) -> None:
        if self._loop == "1000A":
            self._header.update(contact_name=seg.get(2), contact_phone=seg.get(4))

    def _on_sbr(self, seg: Segment) -> None:
        if self._claim is not None:
            self._loop, self._line = "2320", None
            self._other = {"responsibility": seg.get(1), "relationship": seg.get(2), "cas": []}
            self._claim["other"].append(self._other)
            return
        if self._loop != "2000B":
            self._problem(seg, "2", "SBR outside the subscriber level")
        self._subscriber.fields.update(
            responsibility=seg.get(1), relationship=seg.get(2), group=seg.get(3)
        )
        self._subscriber.fields["filing"] = seg.get(9)

    def _on_pat(self, seg: Segment) -> None:
        if self._patient is not None:
            self._patient.fields["relationship"] = seg.get(1)

    def _on_dmg(self, seg: Segment) -> None:
        if seg.get(1) != "D8":
            self._element(seg, 1, "1250", "7", "must be D8")
        sound = self._element(seg, 2, "1251", date_problem(seg.get(2)), "is not a valid date")
        if sound and self._current is not None:
            self._current.fields.update(birth=seg.get(2), gender=seg.get(3))

    def _on_clm(self, seg: Segment) -> None:
        if self._claim is None and self._hl.get(str(self._hl_count)) not in ("22", "23"):
            self._problem(seg, "2", "CLM outside a subscriber or patient level")
        self._loop, self._line, self._other = "2300", None, None
        if not seg.get(1):
            self._element(seg, 1, "1028", "1", "patient control number missing")
        self._element(seg, 2, "782", decimal_problem(seg.get(2)), "is not an amount")
        facility = seg.get(5).split(self._component)
        want = "A" if self.institutional else "B"
        facility += [""] * (3 - len(facility))
        for at, (ref, ok) in enumerate(
            (
                ("1331", bool(facility[0])),
                ("1332", facility[1] == want),
                ("1325", bool(facility[2])),
            ),
            start=1,
        ):
            if not ok:
                code = "1" if not facility[at - 1] else "7"
                text = f"CLM05-{at} must be facility:{want}:frequency"
                self._problem(seg, "8", text, 5, ref, code, component=at)
        self._claim = {
            "start": seg,
            "claim_id": seg.get(1),
            "charge": seg.get(2),
            "facility": facility,
            "flags": (seg.get(6), seg.get(7), seg.get(8), seg.get(9)),
            "lines": [],
            "other": [],
            "diagnoses": [],
            "icd9": [],
            "dates": {},
        }

    def _on_hi(self, seg: Segment) -> None:
        if self._claim is None:
            return
        comp = self._component
        for element in seg.fields[1:]:
            parts = element.split(comp)
            if len(parts) >= 2 and parts[0] in ("ABK", "ABF"):
                self._claim["diagnoses"].append(parts[1])
            elif len(parts) >= 2 and parts[0] in ("BK", "BF"):
                # ICD-9 (claims before October 2015): kept off chain, the model is ICD-10 only.
                self._claim["icd9"].append(parts[1])

    def _on_dtp(self, seg: Segment) -> None:
        qualifier, fmt, value = seg.get(1), seg.get(2), seg.get(3)
        if not self._element(seg, 3, "1251", period_problem(fmt, value), "is not a valid date"):
            return
        start, _, end = value.partition("-")
        if self._line is not None and qualifier == "472":
            self._line["dates"] = (start, end or start)
        elif self._claim is not None and self._other is None:
            self._claim["dates"][qualifier] = (start, end or start)
        elif self._other is not None and qualifier == "573":
            self._other["adjudicated"] = True

    def _on_cas(self, seg: Segment) -> None:
        if self._other is not None and self._line is None:
            self._other["cas"].append(seg.fields[1:])

    def _on_amt(self, seg: Segment) -> None:
        if self._other is not None and seg.get(1) == "D":
            self._other["paid"] = seg.get(2)

    def _on_cl1(self, seg: Segment) -> None:
        if self._claim is not None:
            self._claim["cl1"] = (seg.get(1), seg.get(2), seg.get(3))

    def _on_lx(self, seg: Segment) -> None:
        if self._claim is None:
            self._problem(seg, "2", "LX outside a claim")
            return
        self._loop, self._other = "2400", None
        self._line = {"start": seg, "number": seg.get(1), "service": None, "dates": None}
        self._claim["lines"].append(self._line)

    def _on_service(self, seg: Segment) -> None:
        want = "SV2" if self.institutional else "SV1"
        if self._line is None or seg.id != want:
            self._problem(seg, "2", f"{seg.id} is not expected here ({want} follows LX)")
            return
        charge_at = 3 if self.institutional else 2
        units_at = 5 if self.institutional else 4
        self._element(seg, charge_at, "782", decimal_problem(seg.get(charge_at)), "not an amount")
        if seg.get(units_at):
            self._element(seg, units_at, "380", decimal_problem(seg.get(units_at)), "not a number")
        self._line["service"] = seg

    def _on_svd(self, seg: Segment) -> None:  # 2430 line adjudication; LIN opens 2410
        self._loop = "2430" if seg.id == "SVD" else "2410"

    # -- claim end -----------------------------------------------------------------------------

    def _finish_claim(self, at: Segment | None) -> ParsedClaim | None:
        raw, self._claim, self._line, self._other = self._claim, None, None, None
        if raw is None:
            return None
        lines = raw["lines"]
        if not lines and at is not None:
            self._problem(at, "3", f"claim {raw['claim_id']!r} has no service line (LX)")
        for line in lines:
            if line["service"] is None:
                self._problem(line["start"], "3", "LX without SV1/SV2")
        dates = [ln["dates"] for ln in lines if ln["dates"]]
        claim_dates = raw["dates"].get("434") or raw["dates"].get("472")
        if claim_dates:
            dates.append(claim_dates)
        first = min((d[0] for d in dates), default="")
        last = max((d[1] for d in dates), default=first)
        charge = safe_cents(raw["charge"])
        parsed = ParsedClaim(
            claim_id=raw["claim_id"],
            charge_cents=charge if charge is not None else 0,
            service_from=first,
            service_to=last,
            set_control=self.tx.header.control_number,
            people=self._people(),
        )
        if self.directory is not None:
            self._map(parsed, raw)
        return parsed

    def _people(self) -> ClaimPeople:
        person = self._patient or self._subscriber
        return claim_people(
            self._header,
            self._billing.fields,
            self._subscriber.fields,
            self._payer.fields,
            person.fields,
        )

    def _map(self, parsed: ParsedClaim, raw: dict[str, Any]) -> None:
        assert self.directory is not None
        billing, subscriber, payer, patient = (
            self._billing.fields | {"address": self._billing.address},
            self._subscriber.fields | {"address": self._subscriber.address},
            self._payer.fields,
            None
            if self._patient is None
            else self._patient.fields | {"address": self._patient.address},
        )
        try:
            parsed.claim, parsed.offchain = map_claim(
                RawClaim(
                    version=self.version,
                    component=self._component,
                    header=self._header,
                    billing=billing,
                    subscriber=subscriber,
                    payer=payer,
                    patient=patient,
                    claim=raw,
                ),
                self.directory,
            )
        except Refused as refused:
            parsed.rejection = refused.rejection
        except X12Error as exc:
            parsed.rejection = ClaimRejection("A7", "21", str(exc))
        except msgspec.ValidationError as exc:
            parsed.rejection = ClaimRejection("A7", "21", f"claim refused by the model: {exc}")
        except ValueError as exc:  # a number or date the structure pass let through
            parsed.rejection = ClaimRejection("A7", "21", f"unreadable value: {exc}")


_HANDLERS = {
    "BHT": Claim837Reader._on_bht,
    "NM1": Claim837Reader._on_nm1,
    "N3": Claim837Reader._on_address,
    "N4": Claim837Reader._on_address,
    "REF": Claim837Reader._on_ref,
    "PRV": Claim837Reader._on_prv,
    "PER": Claim837Reader._on_per,
    "SBR": Claim837Reader._on_sbr,
    "PAT": Claim837Reader._on_pat,
    "DMG": Claim837Reader._on_dmg,
    "HI": Claim837Reader._on_hi,
    "DTP": Claim837Reader._on_dtp,
    "CAS": Claim837Reader._on_cas,
    "AMT": Claim837Reader._on_amt,
    "CL1": Claim837Reader._on_cl1,
    "LX": Claim837Reader._on_lx,
    "SV1": Claim837Reader._on_service,
    "SV2": Claim837Reader._on_service,
    "SVD": Claim837Reader._on_svd,
    "LIN": Claim837Reader._on_svd,
}
