"""Writing to the shared directory from a node: publishing entries (a PractitionerRole with the
practitioner's licence credential, verified before anything is written), reporting
discrepancies, resolving them, and the corrections figures (% corrected, median days to correct)
computed from the ledger's correction records.

Not for: reading the directory as FHIR (:mod:`careledger.payer.directory.plan_net`).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from careledger.contracts.payer.directory import CorrectionReport, EntryInput
from careledger.errors import InvalidInput, Unprocessable
from careledger.node.gateway import Gateway
from careledger.payer.directory.licence import LicenceCheck

JSON = dict[str, Any]
NAMESPACE = "directory"
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class CorrectionFigures:
    year: int
    reported: int
    corrected: int
    denied: int
    open: int
    overdue: int
    late: int
    percent_corrected: float | None
    median_days_to_correct: float | None

    def to_json(self) -> JSON:
        return asdict(self)


def correction_figures(
    records: Sequence[Mapping[str, Any]], year: int, now_ms: int
) -> CorrectionFigures:
    """Figures for the reports made in ``year``; ``now_ms`` decides which open ones are overdue."""
    mine = [r for r in records if datetime.fromtimestamp(r["reported_at"] / 1000, UTC).year == year]
    corrected = [r for r in mine if r["status"] == "corrected"]
    days = [(r["resolved_at"] - r["reported_at"]) / DAY_MS for r in corrected]
    still_open = [r for r in mine if r["status"] == "open"]
    return CorrectionFigures(
        year=year,
        reported=len(mine),
        corrected=len(corrected),
        denied=sum(1 for r in mine if r["status"] == "denied"),
        open=len(still_open),
        overdue=sum(1 for r in still_open if r["deadline"] < now_ms),
        late=sum(1 for r in mine if r.get("late")),
        percent_corrected=round(100 * len(corrected) / len(mine), 2) if mine else None,
        median_days_to_correct=round(statistics.median(days), 2) if days else None,
    )


def _words(name: str) -> set[str]:
    cleaned = "".join(c if c.isalnum() else " " for c in name.lower())
    return set(cleaned.split()) - {"dr", "md", "do", "np", "pa", "rn"}


def _convert(value: Any, kind: type[msgspec.Struct], what: str) -> Any:
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"{what}: {exc}") from None


class DirectoryDesk:
    def __init__(self, gateway: Gateway, licences: LicenceCheck) -> None:
        self.gateway = gateway
        self.licences = licences

    async def publish(self, body: JSON) -> JSON:
        """``{"entry": {...}, "licence": <credential>}``; the licence for a PractitionerRole."""
        raw_entry = body.get("entry")
        if not isinstance(raw_entry, dict):
            raise InvalidInput("entry: the directory entry (an object)")
        if "licence" in raw_entry:
            raise InvalidInput("entry.licence is derived from the credential in 'licence'")
        entry = dict(raw_entry)
        credential = body.get("licence")
        if credential is not None:
            if not isinstance(credential, dict):
                raise InvalidInput("licence: the practitioner's licence credential (a VC)")
            entry["licence"] = self.licences.reference(credential)
            await self._licence_names_practitioner(entry, credential)
        checked = _convert(entry, EntryInput, "entry")
        done = await self.gateway.submit(NAMESPACE, "publish", [msgspec.to_builtins(checked)])
        return dict(done.result)

    async def _licence_names_practitioner(self, entry: JSON, credential: JSON) -> None:
        """The licence must be the role's practitioner's: every word of the licensed name
        appears in the directory name (titles like "Dr" aside)."""
        practitioner = entry.get("practitioner")
        if not isinstance(practitioner, str):
            return  # the contract refuses a role without its practitioner
        found = await self.gateway.evaluate(NAMESPACE, "entry", ["Practitioner", practitioner])
        subject = credential.get("credentialSubject")
        licensed = subject.get("practitionerName") if isinstance(subject, dict) else None
        if found is None or not isinstance(licensed, str):
            raise Unprocessable("the licence and the role must name a published Practitioner")
        if not _words(licensed) <= _words(str(found["entry"].get("name") or "")):
            raise Unprocessable("the licence credential is not this practitioner's")

    async def report(self, body: JSON) -> JSON:
        checked = _convert(body, CorrectionReport, "report")
        done = await self.gateway.submit(NAMESPACE, "report", [msgspec.to_builtins(checked)])
        return dict(done.result)

    async def resolve(self, correction: str, body: JSON) -> JSON:
        outcome, reason = body.get("outcome"), body.get("reason")
        if outcome not in ("corrected", "denied"):
            raise InvalidInput("outcome: corrected or denied")
        if reason is not None and not isinstance(reason, str):
            raise InvalidInput("reason: a denial reason code")
        done = await self.gateway.submit(NAMESPACE, "resolve", [correction, outcome, reason])
        return dict(done.result)

    async def corrections(self) -> list[JSON]:
        return list(await self.gateway.evaluate(NAMESPACE, "corrections", []))

    async def figures(self, year: int, now_ms: int) -> CorrectionFigures:
        return correction_figures(await self.corrections(), year, now_ms)
