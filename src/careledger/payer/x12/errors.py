"""The one error the X12 package raises.

Every fault found in X12 input (a truncated ISA, a file over the size cap, bytes that are not
X12 text, an interchange trailer that does not match its header) surfaces as :class:`X12Error`,
never as an ``IndexError`` or ``UnicodeDecodeError`` from deep inside the reader. Errors that a
999 can express (a bad element, a wrong segment count inside a transaction set) are *results*,
reported in the acknowledgment; :class:`X12Error` is for input the reader refuses outright.
"""

from __future__ import annotations

from careledger.errors import InvalidInput


class X12Error(InvalidInput):
    """X12 input refused; ``code`` is a stable machine code, the message says what and where.

    Codes: ``too-large``, ``not-text``, ``empty``, ``isa-truncated``, ``isa-length``,
    ``isa-field``, ``separators``, ``version``, ``segment-too-long``, ``segment-id``, ``truncated``,
    ``envelope``, ``iea-count``, ``iea-control``, ``trailing-data``, ``unsupported``,
    ``content`` (a document CareLedger was asked to write is inconsistent).
    """

    def __init__(self, code: str, message: str, *, segment: int | None = None) -> None:
        where = f" (segment {segment})" if segment is not None else ""
        super().__init__(f"X12 {code}: {message}{where}")
        self.code = code
        self.segment = segment
