"""277CA claim acknowledgment (005010X214): which claims of an 837 entered adjudication.

One ST-277 answers one 837 transaction set that the 999 accepted: the payer (2000A), the
submitter with the batch totals (2000B), each billing provider (2000C) and each claim (2000D)
with ``STC`` ``A2:20`` (accepted into adjudication) or the rejection the mapper found (``A3``,
``A6``, ``A7`` with a code-508 status and a free-text reason). A set's claims are buffered as
small :class:`ClaimStatus` records (bounded by the set), never the whole file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from careledger.payer.x12.claim837_map import ClaimPeople, ParsedClaim
from careledger.payer.x12.elements import d8
from careledger.payer.x12.writer import InterchangeWriter, money

VERSION = "005010X214"


@dataclass(frozen=True, slots=True)
class ClaimStatus:
    """One claim's acknowledgment, as the 277CA writes it."""

    parsed: ParsedClaim

    @property
    def accepted(self) -> bool:
        return self.parsed.rejection is None

    def stc01(self) -> list[str]:
        rejection = self.parsed.rejection
        if rejection is None:
            return ["A2", "20"]
        return [rejection.category, rejection.status, rejection.entity]


def write_status_set(
    writer: InterchangeWriter, claims: Sequence[ParsedClaim], moment: datetime
) -> None:
    """Write one ST-277 for the ``claims`` of one 837 set (in the order they were billed)."""
    if not claims:
        return
    today = moment.strftime("%Y%m%d")
    first = _clean_people(claims[0].people)
    statuses = [ClaimStatus(claim) for claim in claims]
    writer.begin_set()
    writer.segment(
        "BHT", "0085", "08", first.reference or "0", today, moment.strftime("%H%M"), "TH"
    )
    writer.segment("HL", "1", "", "20", "1")
    writer.segment(
        "NM1", "PR", "2", first.payer_name or "PAYER", "", "", "", "", "PI", first.payer_id
    )
    writer.segment("TRN", "1", first.reference or "0")
    writer.segment("DTP", "050", "D8", today)
    writer.segment("DTP", "009", "D8", today)
    writer.segment("HL", "2", "1", "21", "1")
    writer.segment(
        "NM1", "41", "2", first.submitter_name or "SUBMITTER", "", "", "", "", "46",
        first.submitter_id or "0",
    )  # fmt: skip
    writer.segment("TRN", "2", first.reference or "0")
    writer.segment("STC", ["A1", "19"], today, "WQ", money(_total(statuses)))
    _totals(writer, statuses, ("90", "AA"))
    hl = 2
    for (npi, name), group in groupby(statuses, key=lambda s: _provider(s)):
        provider_claims = list(group)
        hl += 1
        provider_hl = hl
        writer.segment("HL", str(provider_hl), "2", "19", "1")
        writer.segment("NM1", "85", "2", name or "PROVIDER", "", "", "", "", "XX", npi or "0")
        writer.segment("TRN", "1", "0")
        # 2200C: STC02 is "not used" there (X214), the counts are QA/QC.
        writer.segment("STC", ["A1", "19", "85"], "", "WQ", money(_total(provider_claims)))
        _totals(writer, provider_claims, ("QA", "QC"))
        for status in provider_claims:
            hl += 1
            _claim(writer, status, hl, provider_hl, today)
    writer.end_set()


def _claim(
    writer: InterchangeWriter, status: ClaimStatus, hl: int, parent: int, today: str
) -> None:
    parsed = status.parsed
    people = _clean_people(parsed.people)
    writer.segment("HL", str(hl), str(parent), "PT")
    writer.segment(
        "NM1", "QC", "1", people.patient_last or "UNKNOWN", people.patient_first, "", "", "",
        "MI", people.member_id or "0",
    )  # fmt: skip
    writer.segment("TRN", "2", _clean(parsed.claim_id) or "0")
    rejection = parsed.rejection
    text = _message(rejection.text) if rejection else ""
    action = "WQ" if status.accepted else "U"
    stc = ["STC", status.stc01(), today, action, money(parsed.charge_cents)]
    if text:
        stc += ["", "", "", "", "", "", "", text]
    writer.segment(*stc)  # type: ignore[arg-type]
    if parsed.service_from:
        if parsed.service_to and parsed.service_to != parsed.service_from:
            writer.segment(
                "DTP", "472", "RD8", f"{d8(parsed.service_from)}-{d8(parsed.service_to)}"
            )
        else:
            writer.segment("DTP", "472", "D8", d8(parsed.service_from))
    else:
        writer.segment("DTP", "472", "D8", today)


def _clean(value: str) -> str:
    """A value read with the sender's separators, made safe to write with ours."""
    return "".join(" " if ch in "*:^~" else ch for ch in value).strip()


def _clean_people(people: ClaimPeople) -> ClaimPeople:
    return ClaimPeople(*(_clean(getattr(people, f)) for f in ClaimPeople.__dataclass_fields__))


def _provider(status: ClaimStatus) -> tuple[str, str]:
    people = _clean_people(status.parsed.people)
    return people.billing_npi, people.billing_name


def _total(statuses: Sequence[ClaimStatus]) -> int:
    return sum(s.parsed.charge_cents for s in statuses)


def _totals(
    writer: InterchangeWriter, statuses: Sequence[ClaimStatus], qualifiers: tuple[str, str]
) -> None:
    accepted = [s for s in statuses if s.accepted]
    rejected = [s for s in statuses if not s.accepted]
    if accepted:
        writer.segment("QTY", qualifiers[0], str(len(accepted)))
    if rejected:
        writer.segment("QTY", qualifiers[1], str(len(rejected)))
    if accepted:
        writer.segment("AMT", "YU", money(_total(accepted)))
    if rejected:
        writer.segment("AMT", "YY", money(_total(rejected)))


def _message(text: str) -> str:
    """STC12 free text: printable, without X12 separators, at most 264 characters."""
    cleaned = "".join(ch if ch.isalnum() or ch in " .,-()'/#" else " " for ch in text)
    return " ".join(cleaned.split())[:264]
