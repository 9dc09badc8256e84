"""Receive an 837 file: 999 first, then the accepted claims one at a time, then the 277CA.

Two passes over the file, both streaming, so nothing is acted on before the whole interchange
checked out (an IEA that does not match at byte 40,000,000 must not leave 4,999 claims
submitted)::

    with Inbound837(stream, directory=directory) as inbound:
        ack = inbound.acknowledge()      # pass 1: structure, 999 bytes in ack.data
        for parsed in inbound.claims():  # pass 2: only sets the 999 accepted
            if parsed.claim is not None:
                submit(parsed.claim)     # parsed.offchain stays off chain
        inbound.status_report            # the 277CA bytes (or pass status_out=a file)

A stream that cannot seek (a socket, a pipe) is first spooled to a temporary file, under the
same size cap.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

from careledger.payer.x12.ack999 import Acknowledgment, acknowledge
from careledger.payer.x12.claim837 import Claim837Reader
from careledger.payer.x12.claim837_map import ClaimDirectory, ParsedClaim
from careledger.payer.x12.envelope import Interchange, TransactionSet
from careledger.payer.x12.errors import X12Error
from careledger.payer.x12.status277 import VERSION as STATUS_VERSION
from careledger.payer.x12.status277 import write_status_set
from careledger.payer.x12.tokens import DEFAULT_LIMITS, Limits, stream_size
from careledger.payer.x12.writer import Envelope, InterchangeWriter, Party


def check_837(tx: TransactionSet) -> None:
    """The 999 pass's checker for 837 sets: structure only, claims discarded as read."""
    for _ in Claim837Reader(tx):
        pass


class Inbound837:
    """One received 837 interchange; call :meth:`acknowledge`, then :meth:`claims`."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        directory: ClaimDirectory,
        limits: Limits = DEFAULT_LIMITS,
        payer: Party | None = None,
        moment: datetime | None = None,
        status_out: BinaryIO | None = None,
    ) -> None:
        self._stream = _seekable(stream, limits)
        self._spooled = self._stream is not stream  # ours to close
        self._start = self._stream.tell()
        self._directory = directory
        self._limits = limits
        self._payer = payer
        self._moment = moment
        self._ack: Acknowledgment | None = None
        self._rejected: set[tuple[int, int]] = set()
        self._status_out = status_out
        #: The 277CA bytes after :meth:`claims` ran (empty when written to ``status_out``).
        self.status_report = b""

    def close(self) -> None:
        """Release the spool file a non-seekable stream was copied to (no-op otherwise)."""
        if self._spooled:
            self._stream.close()

    def __enter__(self) -> Inbound837:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def acknowledge(self) -> Acknowledgment:
        """Pass 1: check every set and write the 999 (raises X12Error for interchange faults)."""
        self._stream.seek(self._start)
        rejected = self._rejected
        self._ack = acknowledge(
            self._stream,
            checkers={"837": check_837},
            receiver=self._payer,
            limits=self._limits,
            on_set=lambda g, s, accepted: None if accepted else rejected.add((g, s)),
        )
        return self._ack

    def claims(self) -> Iterator[ParsedClaim]:
        """Pass 2: the claims of the sets the 999 accepted, mapped; builds the 277CA."""
        if self._ack is None:
            raise X12Error("envelope", "acknowledge() the interchange before reading its claims")
        self._stream.seek(self._start)
        interchange = Interchange(self._stream, self._limits)
        head = interchange.header
        moment = self._moment or datetime.strptime(head.date + head.time, "%y%m%d%H%M")
        envelope = Envelope(
            sender=self._payer or Party(head.receiver_qualifier, head.receiver_id),
            receiver=Party(head.sender_qualifier, head.sender_id),
            moment=moment,
            seed=f"277:{head.sender_id}:{head.control_number}".encode(),
            usage=head.usage,
        )
        out = self._status_out if self._status_out is not None else io.BytesIO()
        writer = InterchangeWriter(out, envelope, transaction="277", version=STATUS_VERSION)
        wrote = False
        rejected_groups = {g for g, codes in enumerate(self._ack.group_codes) if codes}
        for g, group in enumerate(interchange.groups()):
            for s, tx in enumerate(group.sets()):
                # A group the 999 rejected (AK9 R: GE count, control number, version) is
                # rejected whole, even the sets it accepted on their own (IK5 A).
                if g in rejected_groups or (g, s) in self._rejected or tx.header.id != "837":
                    continue
                batch: list[ParsedClaim] = []
                for parsed in Claim837Reader(tx, self._directory):
                    batch.append(parsed)
                    yield parsed
                write_status_set(writer, batch, moment)
                wrote = wrote or bool(batch)
        writer.close()
        if isinstance(out, io.BytesIO) and wrote:
            self.status_report = out.getvalue()


def _seekable(stream: BinaryIO, limits: Limits) -> BinaryIO:
    try:
        if stream.seekable():
            return stream
    except (AttributeError, ValueError, OSError):
        pass
    size = stream_size(stream)
    if size is not None and size > limits.max_bytes:
        raise X12Error("too-large", f"{size} bytes is over the {limits.max_bytes}-byte cap")
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned
    copied = 0
    while chunk := stream.read(limits.chunk):
        copied += len(chunk)
        if copied > limits.max_bytes:
            spool.close()
            raise X12Error("too-large", f"input passed the {limits.max_bytes}-byte cap")
        spool.write(chunk)
    spool.seek(0)
    return spool  # type: ignore[return-value]
