"""Split an X12 byte stream into segments, with the separators the ISA header declares.

The reader never trusts anything it has not checked: the ISA is exactly 106 characters with its
separators at fixed offsets; the four separators are distinct, printable and not letters, digits
or space; the input is X12 text (printable ASCII, CR/LF only between segments); a segment longer
than :attr:`Limits.max_segment` means a terminator that was changed or hidden and is refused;
and a stream over :attr:`Limits.max_bytes` is refused before it is read whole (from its size
when the stream can tell, otherwise as soon as the count passes the cap).

This module is not for envelopes (ISA/IEA, GS/GE, ST/SE pairing and counts): see
:mod:`careledger.payer.x12.envelope`.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, NamedTuple

from careledger.payer.x12.errors import X12Error

#: Widths of ISA01..ISA16: the ISA is fixed-length, which is what lets a reader find the
#: separators before it knows them.
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
ISA_LENGTH = 3 + sum(w + 1 for w in ISA_WIDTHS) + 1  # "ISA", 16 separators + fields, terminator
_FORBIDDEN_SEPARATORS = frozenset(string.ascii_letters + string.digits + " ")
_LINE_BREAKS = b"\r\n"
#: X12 basic and extended character sets are printable ASCII; CR and LF are tolerated only
#: right after a segment terminator (files wrapped one segment per line).
_TEXT_BYTES = bytes(range(0x20, 0x7F))
_DELETE_TEXT = bytes.maketrans(b"", b"")


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps applied while reading; the defaults suit claim files a payer accepts by upload."""

    max_bytes: int = 50 * 1024 * 1024
    max_segment: int = 4096
    chunk: int = 64 * 1024


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Separators:
    """The four separators of an interchange, as the ISA declares them."""

    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"

    def check(self) -> None:
        chars = (self.element, self.component, self.repetition, self.segment)
        for char in chars:
            if len(char) != 1 or char in _FORBIDDEN_SEPARATORS:
                raise X12Error("separators", f"separator {char!r} is a letter, digit or space")
            if char not in string.printable or (char in "\r\n\t" and char != self.segment):
                raise X12Error("separators", f"separator {char!r} is not printable")
        if len(set(chars)) != 4:
            raise X12Error("separators", f"separators must be distinct, got {chars!r}")


class Segment(NamedTuple):
    """One segment: ``fields[0]`` is the segment id, ``fields[n]`` element n (as written)."""

    fields: tuple[str, ...]
    ordinal: int  # 1-based position in the interchange (ISA is 1)

    @property
    def id(self) -> str:
        return self.fields[0]

    def get(self, n: int) -> str:
        """Element ``n`` (1-based), or ``""`` when the segment stops before it."""
        return self.fields[n] if n < len(self.fields) else ""


class InterchangeHeader(NamedTuple):
    """The ISA fields a receiver needs (identifiers are stripped of their padding)."""

    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    date: str
    time: str
    version: str
    control_number: str
    ack_requested: str
    usage: str
    separators: Separators


def parse_isa(head: bytes) -> InterchangeHeader:
    """Read the ISA from the first bytes of an interchange; raise :class:`X12Error` if unsound."""
    if not head.strip():
        raise X12Error("empty", "no data")
    if not head.startswith(b"ISA"):
        raise X12Error("isa-field", "an interchange must start with an ISA segment")
    if len(head) < ISA_LENGTH:
        raise X12Error("isa-truncated", f"ISA is {len(head)} bytes, expected {ISA_LENGTH}")
    raw = head[:ISA_LENGTH]
    if raw[:-1].translate(_DELETE_TEXT, _TEXT_BYTES):
        raise X12Error("not-text", "the ISA holds bytes that are not printable ASCII")
    text = raw.decode("ascii", errors="replace")
    element = text[3]
    offsets = []
    at = 3
    for width in ISA_WIDTHS:
        offsets.append(at)
        at += width + 1
    if any(text[o] != element for o in offsets):
        found = text[:ISA_LENGTH].count(element)
        raise X12Error(
            "isa-length",
            f"ISA fields are not at their fixed widths ({found} separators {element!r} in the "
            f"first {ISA_LENGTH} bytes, expected 16 at fixed offsets)",
        )
    fields = [text[o + 1 : o + 1 + w] for o, w in zip(offsets, ISA_WIDTHS, strict=True)]
    version = fields[11]
    if version != "00501":
        raise X12Error("version", f"ISA12 {version!r}: only 00501 (5010) interchanges are read")
    separators = Separators(
        element=element, component=fields[15], repetition=fields[10], segment=text[ISA_LENGTH - 1]
    )
    separators.check()
    seps = {element, separators.component, separators.repetition, separators.segment}
    for value in fields[:10] + fields[11:15]:
        if seps & set(value):
            raise X12Error("isa-field", f"an ISA field holds a separator ({value!r})")
    if not fields[12].isdigit():
        raise X12Error("isa-field", f"ISA13 control number {fields[12]!r} is not 9 digits")
    try:
        datetime.strptime(fields[8] + fields[9], "%y%m%d%H%M")
    except ValueError:
        raise X12Error(
            "isa-field", f"ISA09/ISA10 {fields[8]!r} {fields[9]!r} is not a date and time"
        ) from None
    if fields[14] not in ("P", "T"):
        raise X12Error("isa-field", f"ISA15 usage {fields[14]!r} must be P or T")
    return InterchangeHeader(
        sender_qualifier=fields[4],
        sender_id=fields[5].rstrip(),
        receiver_qualifier=fields[6],
        receiver_id=fields[7].rstrip(),
        date=fields[8],
        time=fields[9],
        version=version,
        control_number=fields[12],
        ack_requested=fields[13],
        usage=fields[14],
        separators=separators,
    )


def stream_size(stream: BinaryIO) -> int | None:
    """Bytes left in ``stream`` when it can say without reading (a file), else ``None``."""
    try:
        fileno = stream.fileno()
        return os.fstat(fileno).st_size - stream.tell()
    except (OSError, AttributeError, ValueError):
        pass
    try:
        if stream.seekable():
            here = stream.tell()
            end = stream.seek(0, os.SEEK_END)
            stream.seek(here)
            return end - here
    except (OSError, ValueError):
        return None
    return None


class SegmentReader:
    """Iterate the segments of one interchange read from a binary stream, in bounded memory."""

    def __init__(self, stream: BinaryIO, limits: Limits = DEFAULT_LIMITS) -> None:
        self._stream = stream
        self._limits = limits
        size = stream_size(stream)
        if size is not None and size > limits.max_bytes:
            raise X12Error("too-large", f"{size} bytes is over the {limits.max_bytes}-byte cap")
        self._read = 0
        head = self._take(ISA_LENGTH)
        while 0 < len(head) < ISA_LENGTH:  # a raw stream may hand out short reads
            more = self._take(ISA_LENGTH - len(head))
            if not more:
                break
            head += more
        self.header = parse_isa(head)
        self._pending = head

    @property
    def separators(self) -> Separators:
        return self.header.separators

    def _take(self, n: int) -> bytes:
        data = self._stream.read(n)
        self._read += len(data)
        if self._read > self._limits.max_bytes:
            raise X12Error("too-large", f"input passed the {self._limits.max_bytes}-byte cap")
        return data

    def __iter__(self) -> Iterator[Segment]:
        seps = self.separators
        term = seps.segment.encode()
        element = seps.element
        max_segment = self._limits.max_segment
        buffer = self._pending
        self._pending = b""
        ordinal = 0
        while True:
            chunk = self._take(self._limits.chunk)
            buffer += chunk
            parts = buffer.split(term)
            # The last part is the start of a segment whose terminator is still to come.
            buffer = parts.pop()
            for raw in parts:
                ordinal += 1
                yield _segment(raw, ordinal, element, max_segment)
            if len(buffer) > max_segment:
                raise X12Error(
                    "segment-too-long",
                    f"no segment terminator {seps.segment!r} in {len(buffer)} bytes",
                    segment=ordinal + 1,
                )
            if not chunk:
                if buffer.strip(_LINE_BREAKS + b" \t"):
                    raise X12Error(
                        "truncated",
                        f"{len(buffer)} bytes after the last segment terminator",
                        segment=ordinal + 1,
                    )
                return


def _segment(raw: bytes, ordinal: int, element: str, max_segment: int) -> Segment:
    stripped = raw.strip(_LINE_BREAKS)
    if stripped.translate(_DELETE_TEXT, _TEXT_BYTES):
        raise X12Error("not-text", "bytes that are not printable ASCII", segment=ordinal)
    if len(stripped) > max_segment:
        raise X12Error("segment-too-long", f"segment of {len(stripped)} bytes", segment=ordinal)
    fields = tuple(stripped.decode("ascii").split(element))
    seg_id = fields[0]
    if not (2 <= len(seg_id) <= 3 and seg_id.isalnum() and seg_id[0].isupper()):
        if not stripped:
            raise X12Error("segment-id", "empty segment (doubled terminator?)", segment=ordinal)
        raise X12Error("segment-id", f"{seg_id[:12]!r} is not a segment id", segment=ordinal)
    return Segment(fields, ordinal)
