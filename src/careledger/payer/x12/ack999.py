"""999 implementation acknowledgment (005010X231A1) for any interchange CareLedger receives.

:func:`acknowledge` reads an interchange once, lets a checker per transaction type (the 837
structural checks, for instance) look at each set's body, and writes the 999 as it goes: one
ST-999 per functional group received (AK1), one AK2 per transaction set with its IK3/IK4
segment and element errors and its IK5 verdict, and an AK9 for the group. Memory stays flat:
nothing is kept per set beyond the counts the AK9 needs.

Interchange faults that a 999 cannot carry (a truncated or malformed ISA, the IEA not matching,
oversized or non-text input) raise :class:`X12Error`; the partial 999 is discarded with them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from careledger.payer.x12.envelope import Group, Interchange, TransactionSet
from careledger.payer.x12.tokens import DEFAULT_LIMITS, Limits
from careledger.payer.x12.writer import Envelope, InterchangeWriter, Party

VERSION = "005010X231A1"
#: IK3 segments written per transaction set: enough to say what is wrong, bounded for a
#: hostile file with an error on every segment.
MAX_SEGMENT_ERRORS = 50

#: Reads one transaction set's body and records its problems on it (``tx.add(...)``).
SetChecker = Callable[[TransactionSet], None]


@dataclass(slots=True)
class SetVerdict:
    """What the 999 said about one transaction set (kept small: code and control number)."""

    transaction: str
    control_number: str
    accepted: bool
    codes: tuple[str, ...]


@dataclass(slots=True)
class Acknowledgment:
    """The 999 bytes and the verdicts, for the caller to decide what to act on."""

    data: bytes
    accepted_sets: int = 0  # IK5 A, including sets of a group rejected at its GE (AK9 R)
    rejected_sets: int = 0
    group_codes: list[tuple[str, ...]] = field(default_factory=list)
    rejected: list[SetVerdict] = field(default_factory=list)  # at most 100 kept, for messages

    @property
    def accepted(self) -> bool:
        """True when every set and group was accepted (AK9 A everywhere)."""
        return self.rejected_sets == 0 and all(not codes for codes in self.group_codes)


def acknowledge(
    stream: BinaryIO,
    *,
    checkers: Mapping[str, SetChecker] | None = None,
    receiver: Party | None = None,
    envelope: Envelope | None = None,
    limits: Limits = DEFAULT_LIMITS,
    out: BinaryIO | None = None,
    on_set: Callable[[int, int, bool], None] | None = None,
) -> Acknowledgment:
    """Read the interchange in ``stream`` and acknowledge it with a 999.

    ``envelope`` fixes the 999's own ISA (time and control-number seed). When omitted, it is
    derived from the received ISA (sender and receiver swapped, the received date and time, the
    received control number as seed), so the same file always gets the same 999.
    ``on_set(group_index, set_index, accepted)`` is told each set's verdict as it is written.
    """
    interchange = Interchange(stream, limits)
    head = interchange.header
    if envelope is None:
        from datetime import datetime

        moment = datetime.strptime(head.date + head.time, "%y%m%d%H%M")
        envelope = Envelope(
            sender=receiver or Party(head.receiver_qualifier, head.receiver_id),
            receiver=Party(head.sender_qualifier, head.sender_id),
            moment=moment,
            seed=f"999:{head.sender_id}:{head.control_number}".encode(),
            usage=head.usage,
        )
    sink = out if out is not None else io.BytesIO()
    writer = InterchangeWriter(sink, envelope, transaction="999", version=VERSION)
    result = Acknowledgment(data=b"")
    checks = checkers or {}
    for g, group in enumerate(interchange.groups()):
        writer.begin_set()
        gs = group.header
        writer.segment("AK1", gs.functional_id, gs.control_number, gs.version)
        for s, tx in enumerate(group.sets()):
            checker = checks.get(tx.header.id)
            if checker is not None and not tx.outcome.problems:
                checker(tx)
            tx.drain()
            verdict = _write_set(writer, tx)
            if on_set is not None:
                on_set(g, s, verdict.accepted)
            if verdict.accepted:
                result.accepted_sets += 1
            else:
                result.rejected_sets += 1
                if len(result.rejected) < 100:
                    result.rejected.append(verdict)
        result.group_codes.append(_write_group_trailer(writer, group))
        writer.end_set()
    writer.close()
    if out is None:
        assert isinstance(sink, io.BytesIO)
        result.data = sink.getvalue()
    return result


def _write_set(writer: InterchangeWriter, tx: TransactionSet) -> SetVerdict:
    head = tx.header
    writer.segment("AK2", head.id, head.control_number, _copy_of(head.convention)[:35])
    outcome = tx.outcome
    for problem in outcome.segment_problems[:MAX_SEGMENT_ERRORS]:
        # IK303 holds at most 4 characters: the loop number without its letter suffix.
        loop = problem.loop[:4]
        writer.segment("IK3", problem.segment_id, str(problem.position), loop, problem.code)
        if problem.element is not None:
            where: list[str] = [str(problem.element)]
            if problem.component is not None:
                where.append(str(problem.component))
            writer.segment(
                "IK4",
                where,
                problem.element_ref,
                problem.element_code,
                _copy_of(problem.value),
            )
    codes = [code for code, _ in outcome.problems]
    if outcome.segment_problems and "5" not in codes:
        codes.append("5")
    codes = list(dict.fromkeys(codes))[:5]
    writer.segment("IK5", "R" if codes else "A", *codes)
    return SetVerdict(head.id, head.control_number, not codes, tuple(codes))


def _write_group_trailer(writer: InterchangeWriter, group: Group) -> tuple[str, ...]:
    codes = tuple(dict.fromkeys(code for code, _ in group.problems))[:5]
    if codes or group.accepted == 0:
        status = "R"
    elif group.accepted < group.received:
        status = "P"
    else:
        status = "A"
    included = group.declared if group.declared >= 0 else group.received
    writer.segment("AK9", status, str(included), str(group.received), str(group.accepted), *codes)
    return codes


def _copy_of(value: str) -> str:
    """IK404 copies the bad data when it can be written back safely (no separators, ≤ 99)."""
    cleaned = value[:99].rstrip()
    if any(char in cleaned for char in "*:^~") or not cleaned.isprintable():
        return ""
    return cleaned
