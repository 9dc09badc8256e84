"""Write X12 interchanges deterministically: same inputs, same bytes.

Nothing here reads a clock or a random source: the interchange date and time, and the seed the
control numbers are derived from, are given by the caller (for remittance, the block that
committed the payment), so replaying the chain rebuilds every document byte for byte.

Data is never escaped (X12 has no escape): an element holding a separator is refused with
:class:`X12Error` rather than written as a different segment structure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from careledger.payer.x12.envelope import FUNCTIONAL_IDS
from careledger.payer.x12.errors import X12Error
from careledger.payer.x12.tokens import Separators

Element = str | Sequence[str]  # a composite element is a sequence of components


@dataclass(frozen=True, slots=True)
class Party:
    """An interchange sender or receiver: ISA qualifier (ZZ mutually defined, 30 TIN…) and id."""

    qualifier: str
    id: str


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the caller fixes for one outbound interchange."""

    sender: Party
    receiver: Party
    moment: datetime  # from the chain (block time), never from the clock
    seed: bytes  # e.g. a transaction id: control numbers are derived from it
    usage: str = "P"  # ISA15: P production, T test

    def control_number(self, label: str, digits: int = 9) -> str:
        """A number of ``digits`` digits, stable for (seed, label), never all zeros."""
        digest = hashlib.sha256(self.seed + b"\x00" + label.encode()).digest()
        value = int.from_bytes(digest[:8], "big") % (10**digits - 1) + 1
        return str(value).zfill(digits)


def money(cents: int) -> str:
    """Integer cents as an X12 R (decimal) value: 12345 -> "123.45", 100 -> "1", -5 -> "-0.05"."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise X12Error("content", f"amount {cents!r} is not integer cents")
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}" if frac == 0 else f"{sign}{whole}.{frac:02d}".rstrip("0")


def quantity(value: int | str) -> str:
    return str(value)


class InterchangeWriter:
    """Write one interchange with one functional group to ``out``, segment by segment.

    Memory stays flat however many sets are written: segments go to ``out`` as they come; only
    the counts the trailers need are kept.
    """

    def __init__(
        self,
        out: BinaryIO,
        envelope: Envelope,
        *,
        transaction: str,
        version: str,
        separators: Separators | None = None,
    ) -> None:
        self._out = out
        self._env = envelope
        self._seps = separators or Separators()
        self._seps.check()
        self._transaction = transaction
        self._version = version
        chars = self._seps.element + self._seps.component + self._seps.repetition
        # One search per segment: anything outside printable ASCII, or one of our separators.
        self._bad = re.compile("[^ -~]|[" + re.escape(chars + self._seps.segment) + "]")
        self.isa_control = envelope.control_number("ISA")
        self.gs_control = str(int(envelope.control_number("GS")))
        self._sets = 0
        self._set_control = ""
        self._set_segments = 0
        self._in_set = False
        self._write_headers()

    def _write_headers(self) -> None:
        env = self._env
        seps = self._seps
        stamp = env.moment
        isa = (
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            _fixed(env.sender.qualifier, 2),
            _fixed(env.sender.id, 15),
            _fixed(env.receiver.qualifier, 2),
            _fixed(env.receiver.id, 15),
            stamp.strftime("%y%m%d"),
            stamp.strftime("%H%M"),
            seps.repetition,
            "00501",
            self.isa_control,
            "0",
            env.usage,
            seps.component,
        )
        for value in isa[1:11] + isa[12:16]:  # not ISA11 and ISA16, the separators
            self._check("ISA", value)
        self._out.write((seps.element.join(isa) + seps.segment).encode("ascii"))
        self._raw(
            "GS",
            FUNCTIONAL_IDS[self._transaction],
            env.sender.id,
            env.receiver.id,
            stamp.strftime("%Y%m%d"),
            stamp.strftime("%H%M"),
            self.gs_control,
            "X",
            self._version,
        )

    def begin_set(self) -> str:
        """Start a transaction set; its control number (0001, 0002, …) is returned."""
        if self._in_set:
            raise X12Error("content", "a transaction set is already open")
        self._sets += 1
        self._set_control = f"{self._sets:04d}"
        self._in_set = True
        self._set_segments = 0
        self.segment("ST", self._transaction, self._set_control, self._version)
        return self._set_control

    def segment(self, seg_id: str, *elements: Element) -> None:
        if not self._in_set:
            raise X12Error("content", f"{seg_id} written outside a transaction set")
        self._set_segments += 1
        self._raw(seg_id, *elements)

    def end_set(self) -> None:
        self.segment("SE", str(self._set_segments + 1), self._set_control)
        self._in_set = False

    def close(self) -> None:
        if self._in_set:
            raise X12Error("content", "transaction set left open")
        self._raw("GE", str(self._sets), self.gs_control)
        self._raw("IEA", "1", self.isa_control)

    def _raw(self, seg_id: str, *elements: Element) -> None:
        seps = self._seps
        texts = [seg_id]
        values: list[str] = []
        for element in elements:
            if isinstance(element, str):
                values.append(element)
                texts.append(element)
            else:
                parts = list(element)
                values.extend(parts)
                while parts and not parts[-1]:
                    parts.pop()
                texts.append(seps.component.join(parts))
        if self._bad.search("".join(values)):
            for value in values:
                self._check(seg_id, value)
        while len(texts) > 1 and not texts[-1]:
            texts.pop()
        self._out.write((seps.element.join(texts) + seps.segment).encode("ascii"))

    def _check(self, seg_id: str, value: str) -> None:
        if not value.isascii() or not value.isprintable():
            raise X12Error("content", f"{seg_id}: {value!r} is not printable ASCII")
        if self._bad.search(value):
            raise X12Error("content", f"{seg_id}: {value!r} holds an X12 separator")


def _fixed(value: str, width: int) -> str:
    if len(value) > width:
        raise X12Error("content", f"{value!r} is longer than the ISA field ({width})")
    return value.ljust(width)
