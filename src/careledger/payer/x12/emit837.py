"""Write canonical claims back out as an 837P (005010X222A1) or 837I (005010X223A2).

Used to forward a claim to the next payer in coordination of benefits and to re-emit what was
received from the canonical form (a round trip the tests hold to: read → write → read gives
the same :class:`~careledger.contracts.payer.model.Claim`). One transaction set per call to
:meth:`ClaimWriter.add_set`; within it each claim gets its billing provider, subscriber and (when
the patient is not the subscriber) patient levels. Deterministic like every writer here.

Not written (not in the canonical model or the off-chain struct): line-level providers other
than rendering, attachments (PWK), notes (NTE), ambulance and DME segments. A rendering provider
known only by NPI (every line-level one) is named ``RENDERING PROVIDER``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from careledger.contracts.payer.model import Claim, ClaimLine
from careledger.payer.x12.elements import d8
from careledger.payer.x12.errors import X12Error
from careledger.payer.x12.offchain import Address, ClaimOffChain, ProviderParty
from careledger.payer.x12.writer import Envelope, InterchangeWriter, money

PROFESSIONAL = "005010X222A1"
INSTITUTIONAL = "005010X223A2"
#: The canonical claim holds a rendering provider's NPI, not its name; NM103 is required, so a
#: rendering provider with no name in the off-chain part is written under this one.
_UNNAMED = "RENDERING PROVIDER"
_RELATIONSHIP_CODE = {"self": "18", "spouse": "01", "child": "19", "other": "G8"}
_RESPONSIBILITY_CODE = {"primary": "P", "secondary": "S", "tertiary": "T"}


class ClaimWriter:
    """Write 837 sets of one kind into one interchange; ``close()`` when done."""

    def __init__(self, out: BinaryIO, envelope: Envelope, *, institutional: bool) -> None:
        self.institutional = institutional
        self._version = INSTITUTIONAL if institutional else PROFESSIONAL
        self._w = InterchangeWriter(out, envelope, transaction="837", version=self._version)
        self._moment = envelope.moment

    def add_set(self, claims: Sequence[tuple[Claim, ClaimOffChain]]) -> None:
        if not claims:
            raise X12Error("content", "an 837 set needs at least one claim")
        kind = "institutional" if self.institutional else "professional"
        w = self._w
        w.begin_set()
        head = claims[0][1].submission
        w.segment(
            "BHT", "0019", "00", head.reference or "0",
            self._moment.strftime("%Y%m%d"), self._moment.strftime("%H%M"), "CH",
        )  # fmt: skip
        w.segment("NM1", "41", "2", head.submitter_name, "", "", "", "", "46", head.submitter_id)
        w.segment("PER", "IC", head.contact_name or "EDI", "TE", head.contact_phone or "0000000000")
        w.segment("NM1", "40", "2", head.receiver_name, "", "", "", "", "46", head.receiver_id)
        hl = 0
        for claim, off in claims:
            if claim.kind != kind:
                raise X12Error("content", f"claim {claim.claim_id} is {claim.kind}, not {kind}")
            hl = self._claim_levels(hl, claim, off)
        w.end_set()

    def close(self) -> None:
        self._w.close()

    def _claim_levels(self, hl: int, claim: Claim, off: ClaimOffChain) -> int:
        w = self._w
        billing_hl = hl + 1
        w.segment("HL", str(billing_hl), "", "20", "1")
        if off.billing.taxonomy:
            w.segment("PRV", "BI", "PXC", off.billing.taxonomy)
        _name(w, "85", off.billing, "XX")
        if off.billing.address is not None:
            _address(w, off.billing.address)
        w.segment("REF", "EI", off.billing.tax_id or "000000000")
        parties = off.parties
        patient_is_subscriber = not parties.patient_last
        subscriber_hl = billing_hl + 1
        w.segment(
            "HL", str(subscriber_hl), str(billing_hl), "22", "0" if patient_is_subscriber else "1"
        )
        sequence = _RESPONSIBILITY_CODE[claim.responsibility]
        w.segment(
            "SBR", sequence, "18" if patient_is_subscriber else "",
            off.group_number, "", "", "", "", "", off.filing_indicator,
        )  # fmt: skip
        w.segment(
            "NM1", "IL", "1", parties.subscriber_last, parties.subscriber_first, "", "", "",
            "MI", parties.member_id,
        )  # fmt: skip
        if patient_is_subscriber:
            if off.subscriber_address is not None:
                _address(w, off.subscriber_address)
            _demographics(w, parties.birth_date, parties.gender)
        w.segment("NM1", "PR", "2", off.payer_name, "", "", "", "", "PI", off.payer_id)
        last_hl = subscriber_hl
        if not patient_is_subscriber:
            last_hl += 1
            w.segment("HL", str(last_hl), str(subscriber_hl), "23", "0")
            w.segment("PAT", _RELATIONSHIP_CODE.get(parties.relationship, "G8"))
            w.segment("NM1", "QC", "1", parties.patient_last, parties.patient_first)
            if off.patient_address is not None:
                _address(w, off.patient_address)
            _demographics(w, parties.birth_date, parties.gender)
        self._claim(claim, off)
        return last_hl

    def _claim(self, claim: Claim, off: ClaimOffChain) -> None:
        w = self._w
        facility = (claim.facility_type if self.institutional else claim.place_of_service) or "11"
        qualifier = "A" if self.institutional else "B"
        flags = off.claim_flags
        if self.institutional:  # CLM06 (provider signature) is "not used" in the 837I
            flags = ("", *flags[1:])
        w.segment(
            "CLM", claim.claim_id, money(claim.total_charge_cents), "", "",
            [facility, qualifier, claim.frequency_code], *flags,
        )  # fmt: skip
        if self.institutional:
            if claim.statement_from:
                period = (
                    f"{d8(claim.statement_from)}-{d8(claim.statement_to or claim.statement_from)}"
                )
                w.segment("DTP", "434", "RD8", period)
            w.segment("CL1", off.admission_type, off.admission_source, off.patient_status or "01")
        if claim.prior_authorization:
            w.segment("REF", "G1", claim.prior_authorization)
        if claim.original_reference:
            w.segment("REF", "F8", claim.original_reference)
        self._diagnoses(claim, off)
        if claim.rendering_npi:
            rendering = off.rendering
            if rendering is None or rendering.npi != claim.rendering_npi:
                rendering = ProviderParty(name=_UNNAMED, npi=claim.rendering_npi, entity_type="1")
            _name(w, "82", rendering, "XX")
        for index, other in enumerate(claim.other_coverage):
            w.segment(
                "SBR", _RESPONSIBILITY_CODE[other.responsibility],
                _RELATIONSHIP_CODE.get(other.relationship, "G8"), "", "", "", "", "", "", "CI",
            )  # fmt: skip
            if other.adjustments:
                for a in other.adjustments:
                    w.segment("CAS", a.group, a.reason, money(a.amount_cents))
            if other.adjudicated or other.paid_cents:
                w.segment("AMT", "D", money(other.paid_cents))
            w.segment("OI", "", "", "Y", "", "", "Y")
            w.segment(
                "NM1", "IL", "1", off.parties.subscriber_last, off.parties.subscriber_first,
                "", "", "", "MI", off.parties.member_id,
            )  # fmt: skip
            w.segment(
                "NM1", "PR", "2", f"OTHER PAYER {index + 1}", "", "", "", "", "PI", other.payer
            )
            if other.adjudicated:
                w.segment("DTP", "573", "D8", self._moment.strftime("%Y%m%d"))
        for line in claim.lines:
            self._line(claim, line)

    def _diagnoses(self, claim: Claim, off: ClaimOffChain) -> None:
        if claim.diagnoses:
            principal = "ABK"
            other = "ABF"
            codes = claim.diagnoses
        elif off.icd9_diagnoses:
            principal, other, codes = "BK", "BF", list(off.icd9_diagnoses)
        else:
            if self.institutional:
                raise X12Error("content", f"claim {claim.claim_id} has no principal diagnosis")
            return
        others = [[other, code] for code in codes[1:12]]
        if self.institutional:
            # 837I: the principal diagnosis has its own HI; the others follow in another.
            self._w.segment("HI", [principal, codes[0]])
            if others:
                self._w.segment("HI", *others)
        else:
            self._w.segment("HI", [principal, codes[0]], *others)

    def _line(self, claim: Claim, line: ClaimLine) -> None:
        w = self._w
        w.segment("LX", str(line.line))
        product = ["HC", line.procedure_code or "", *line.modifiers] if line.procedure_code else ""
        if self.institutional:
            w.segment(
                "SV2", line.revenue_code or "", product, money(line.charge_cents), "UN",
                str(line.units),
            )  # fmt: skip
        else:
            pointers = [str(p) for p in line.diagnosis_pointers] or (
                ["1"] if claim.diagnoses else []
            )
            w.segment(
                "SV1", product, money(line.charge_cents), "UN", str(line.units),
                line.place_of_service or "", "", pointers,
            )  # fmt: skip
        if line.service_to and line.service_to != line.service_from:
            w.segment("DTP", "472", "RD8", f"{d8(line.service_from)}-{d8(line.service_to)}")
        else:
            w.segment("DTP", "472", "D8", d8(line.service_from))
        if line.rendering_npi:
            w.segment("NM1", "82", "1", _UNNAMED, "", "", "", "", "XX", line.rendering_npi)


def _name(w: InterchangeWriter, code: str, party: ProviderParty, qualifier: str) -> None:
    w.segment(
        "NM1", code, party.entity_type or "2", party.name, party.first_name, "", "", "",
        qualifier, party.npi,
    )  # fmt: skip


def _address(w: InterchangeWriter, address: Address) -> None:
    w.segment("N3", address.line1, address.line2)
    w.segment("N4", address.city, address.state, address.postal_code)


def _demographics(w: InterchangeWriter, birth_date: str, gender: str) -> None:
    if birth_date:
        w.segment("DMG", "D8", d8(birth_date), gender)


def write_837(
    out: BinaryIO,
    envelope: Envelope,
    claims: Sequence[tuple[Claim, ClaimOffChain]],
    *,
    institutional: bool = False,
    per_set: int = 100,
) -> None:
    """Write ``claims`` as one 837 interchange, ``per_set`` claims per transaction set."""
    writer = ClaimWriter(out, envelope, institutional=institutional)
    for start in range(0, len(claims), per_set):
        writer.add_set(claims[start : start + per_set])
    writer.close()
