"""Walk the envelopes of one interchange (ISA/IEA, GS/GE, ST/SE) as a stream.

Groups, transaction sets and their body segments are nested lazy iterators over one segment
stream, so a 5,000-claim file is read one segment at a time::

    interchange = Interchange(stream)
    for group in interchange.groups():
        for tx in group.sets():
            for segment in tx.body():
                ...
            tx.problems   # IK5 codes found at the SE (count, control number, missing trailer)
        group.problems    # AK9 codes found at the GE
    # the IEA is checked when groups() ends: a wrong count or control number raises X12Error

Problems a 999 can report (a set trailer that does not match, a wrong GS08 for the transaction,
a set in the wrong functional group) are collected as ``(code, text)`` pairs with the X12 code
the 999 uses; interchange faults (IEA mismatch, data outside any group, no IEA) raise
:class:`X12Error`, since no 999 can carry them. Callers that must not act on a half-valid file
read it twice: once to check (and write the 999), once to act on the accepted sets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from careledger.payer.x12.errors import X12Error
from careledger.payer.x12.tokens import DEFAULT_LIMITS, Limits, Segment, SegmentReader

#: GS01 functional identifier for each transaction set id CareLedger reads or writes.
FUNCTIONAL_IDS: dict[str, str] = {
    "837": "HC",
    "835": "HP",
    "270": "HS",
    "271": "HB",
    "277": "HN",
    "278": "HI",
    "999": "FA",
}

#: GS01 codes of the HIPAA 5010 transactions: a group under any other code cannot even be
#: named in a 999 (AK101) and is refused; known but unsupported ones get AK9 code 1.
HIPAA_FUNCTIONAL_IDS = frozenset({"HC", "HP", "HS", "HB", "HN", "HR", "HI", "BE", "RA", "FA"})

#: ST01 codes of the HIPAA transactions (and their acknowledgments); as for GS01, a set under
#: any other id cannot be named in a 999 (AK201) and is refused.
HIPAA_TRANSACTION_SETS = frozenset(
    {"270", "271", "275", "276", "277", "278", "820", "824", "834", "835", "837", "997", "999"}
)

#: Implementation guides (GS08 / ST03) CareLedger supports, per transaction set id.
CONVENTIONS: dict[str, tuple[str, ...]] = {
    "837": ("005010X222A1", "005010X223A2"),
    "835": ("005010X221A1",),
    "270": ("005010X279A1",),
    "271": ("005010X279A1",),
    "277": ("005010X214",),
    "999": ("005010X231A1",),
}

Problem = tuple[str, str]  # (X12 code for the 999, human text)


@dataclass(slots=True)
class GroupHeader:
    functional_id: str
    sender: str
    receiver: str
    date: str
    time: str
    control_number: str
    version: str


@dataclass(slots=True)
class SetHeader:
    id: str
    control_number: str
    convention: str
    ordinal: int  # ordinal of the ST in the interchange

    def position(self, segment: Segment) -> int:
        """Position of ``segment`` in its transaction set, ST being 1 (as IK302 counts)."""
        return segment.ordinal - self.ordinal + 1


class Interchange:
    """One interchange read from ``stream``; iterate :meth:`groups` once."""

    def __init__(self, stream: BinaryIO, limits: Limits = DEFAULT_LIMITS) -> None:
        self._reader = SegmentReader(stream, limits)
        self.header = self._reader.header
        self.separators = self._reader.separators
        self._segments = iter(self._reader)
        self._back: Segment | None = None
        self._group_numbers: set[str] = set()

    def _next(self) -> Segment:
        if self._back is not None:
            seg, self._back = self._back, None
            return seg
        try:
            return next(self._segments)
        except StopIteration:
            raise X12Error("envelope", "the interchange ends without an IEA") from None

    def _push_back(self, segment: Segment) -> None:
        self._back = segment

    def groups(self) -> Iterator[Group]:
        isa = self._next()
        if isa.id != "ISA":  # pragma: no cover - SegmentReader starts at the ISA
            raise X12Error("envelope", "no ISA", segment=isa.ordinal)
        count = 0
        while True:
            seg = self._next()
            if seg.id == "GS":
                group = Group(self, seg)
                yield group
                group.drain()
                count += 1
            elif seg.id == "IEA":
                self._close(seg, count)
                return
            else:
                raise X12Error(
                    "envelope", f"{seg.id} outside a functional group (GS..GE)", segment=seg.ordinal
                )

    def _close(self, iea: Segment, count: int) -> None:
        if iea.get(1) != str(count):
            raise X12Error(
                "iea-count",
                f"IEA01 says {iea.get(1)!r} functional groups, the interchange has {count}",
                segment=iea.ordinal,
            )
        if iea.get(2) != self.header.control_number:
            raise X12Error(
                "iea-control",
                f"IEA02 {iea.get(2)!r} does not match ISA13 {self.header.control_number!r}",
                segment=iea.ordinal,
            )
        for extra in self._segments:
            raise X12Error("trailing-data", f"{extra.id} after the IEA", segment=extra.ordinal)


class Group:
    """A functional group; :attr:`problems` holds AK9 codes once :meth:`sets` is exhausted."""

    def __init__(self, interchange: Interchange, gs: Segment) -> None:
        self._interchange = interchange
        self.header = GroupHeader(
            functional_id=gs.get(1),
            sender=gs.get(2),
            receiver=gs.get(3),
            date=gs.get(4),
            time=gs.get(5),
            control_number=gs.get(6),
            version=gs.get(8),
        )
        self.problems: list[Problem] = []
        self.declared = 0
        self.received = 0
        self.accepted = 0
        self._done = False
        self._set_numbers: set[str] = set()
        self._check_header(gs)

    def _check_header(self, gs: Segment) -> None:
        head = self.header
        if head.functional_id not in FUNCTIONAL_IDS.values():
            self.problems.append(("1", f"functional group {head.functional_id!r} not supported"))
        kinds = [k for k, f in FUNCTIONAL_IDS.items() if f == head.functional_id]
        supported = {c for k in kinds for c in CONVENTIONS.get(k, ())}
        if head.functional_id in FUNCTIONAL_IDS.values() and head.version not in supported:
            self.problems.append(
                (
                    "2",
                    f"GS08 {head.version!r} is not a version CareLedger reads for "
                    f"{head.functional_id} (supported: {', '.join(sorted(supported)) or 'none'})",
                )
            )
        number = head.control_number
        # A group the 999 cannot name (AK101..AK103 echo GS01, GS06, GS08) is refused whole.
        if not (number.isdigit() and 1 <= len(number) <= 9):
            raise X12Error("envelope", f"GS06 {number!r} is not 1-9 digits", segment=gs.ordinal)
        if head.functional_id not in HIPAA_FUNCTIONAL_IDS:
            raise X12Error(
                "envelope", f"GS01 {head.functional_id!r} is not a code", segment=gs.ordinal
            )
        if not (1 <= len(head.version) <= 12):
            raise X12Error(
                "envelope", f"GS08 {head.version!r} is not a version", segment=gs.ordinal
            )
        if number in self._interchange._group_numbers:
            self.problems.append(("19", f"GS06 {number!r} is used twice in the interchange"))
        self._interchange._group_numbers.add(number)

    @property
    def version_supported(self) -> bool:
        return not any(code in ("1", "2") for code, _ in self.problems)

    def sets(self) -> Iterator[TransactionSet]:
        ic = self._interchange
        while True:
            seg = ic._next()
            if seg.id == "ST":
                tx = TransactionSet(self, seg)
                yield tx
                tx.drain()
                self.received += 1
                if tx.accepted:
                    self.accepted += 1
            elif seg.id == "GE":
                self._close(seg)
                return
            elif seg.id in ("GS", "IEA"):
                ic._push_back(seg)
                self.problems.append(("3", "functional group trailer GE missing"))
                self._done = True
                return
            else:
                raise X12Error(
                    "envelope", f"{seg.id} outside a transaction set (ST..SE)", segment=seg.ordinal
                )

    def _close(self, ge: Segment) -> None:
        self._done = True
        declared = ge.get(1)
        self.declared = int(declared) if declared.isdigit() else -1
        if self.declared != self.received:
            self.problems.append(
                ("5", f"GE01 says {declared!r} transaction sets, the group has {self.received}")
            )
        if ge.get(2) != self.header.control_number:
            self.problems.append(
                ("4", f"GE02 {ge.get(2)!r} does not match GS06 {self.header.control_number!r}")
            )

    def drain(self) -> None:
        if not self._done:
            for tx in self.sets():
                tx.drain()


@dataclass(slots=True)
class SegmentProblem:
    """An IK3 (segment) problem, with the IK4 (element) problem when there is one."""

    segment_id: str
    position: int
    loop: str
    code: str  # IK304
    text: str
    element: int | None = None  # IK401 position
    component: int | None = None
    element_ref: str = ""  # IK402 data element reference number
    element_code: str = ""  # IK403
    value: str = ""  # IK404 (copy of the bad data)


@dataclass(slots=True)
class SetOutcome:
    problems: list[Problem] = field(default_factory=list)
    segment_problems: list[SegmentProblem] = field(default_factory=list)


class TransactionSet:
    """One ST..SE; iterate :meth:`body` once; :attr:`accepted` is known after it ends."""

    def __init__(self, group: Group, st: Segment) -> None:
        self.group = group
        self._interchange = group._interchange
        self.header = SetHeader(
            id=st.get(1), control_number=st.get(2), convention=st.get(3), ordinal=st.ordinal
        )
        self.outcome = SetOutcome()
        self._done = False
        self._check_header()

    def _check_header(self) -> None:
        head, problems = self.header, self.outcome.problems
        gs = self.group.header
        if head.id not in CONVENTIONS:
            problems.append(("1", f"transaction set {head.id!r} not supported"))
        elif FUNCTIONAL_IDS[head.id] != gs.functional_id:
            problems.append(("6", f"ST01 {head.id!r} is not in a {gs.functional_id} group"))
        elif gs.version not in CONVENTIONS[head.id]:
            problems.append(("I6", f"GS08 {gs.version!r} is not a guide for {head.id}"))
        if head.convention and head.convention != gs.version:
            problems.append(("19", f"ST03 {head.convention!r} differs from GS08 {gs.version!r}"))
        number = head.control_number
        # A set the 999 cannot name (AK201/AK202 echo ST01, ST02) is refused with the file.
        if not (4 <= len(number) <= 9 and number.isalnum()):
            raise X12Error(
                "envelope",
                f"ST02 {number!r} is not 4-9 letters or digits",
                segment=self.header.ordinal,
            )
        if head.id not in HIPAA_TRANSACTION_SETS:
            raise X12Error(
                "envelope",
                f"ST01 {head.id!r} is not a transaction set id",
                segment=self.header.ordinal,
            )
        if number in self.group._set_numbers:
            problems.append(("23", f"ST02 {number!r} is used twice in the group"))
        self.group._set_numbers.add(number)

    def add(self, problem: SegmentProblem) -> None:
        """Record a segment/element problem found by the transaction's validator."""
        self.outcome.segment_problems.append(problem)

    @property
    def accepted(self) -> bool:
        return not self.outcome.problems and not self.outcome.segment_problems

    def body(self) -> Iterator[Segment]:
        ic = self._interchange
        while not self._done:
            seg = ic._next()
            if seg.id == "SE":
                self._close(seg)
            elif seg.id in ("ST", "GE", "GS", "IEA", "ISA"):
                ic._push_back(seg)
                self.outcome.problems.append(("2", "transaction set trailer SE missing"))
                self._done = True
            else:
                yield seg

    def _close(self, se: Segment) -> None:
        self._done = True
        counted = self.header.position(se)
        if se.get(1) != str(counted):
            self.outcome.problems.append(
                ("4", f"SE01 says {se.get(1)!r} segments, the set has {counted}")
            )
        if se.get(2) != self.header.control_number:
            self.outcome.problems.append(
                ("3", f"SE02 {se.get(2)!r} does not match ST02 {self.header.control_number!r}")
            )

    def drain(self) -> None:
        for _ in self.body():
            pass
