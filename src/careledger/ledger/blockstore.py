"""Append-only block store: one file of length-prefixed, checksummed block records.

Record layout: ``u32 length (big endian) | u32 CRC-32 of the payload | payload`` where the payload
is the block's canonical bytes (:meth:`Block.to_bytes`). The file is fsynced after each append, so
a block acknowledged by ``append`` survives a crash. On open, the store scans the file and cuts a
torn tail (a record whose length or checksum does not check out, left by a crash mid-write), then
serves blocks by number. The index by transaction id lives in the state store, committed
atomically with each block's state changes.

Not for validation: the store trusts what the peer appends; ``careledger verify`` re-checks.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from careledger.errors import StorageError
from careledger.ledger.block import Block, decode_block

_HEAD = struct.Struct(">II")


class BlockStore:
    """The block file of one peer.

    ``read_only`` opens another process's block file for reading: nothing is cut or written, and
    :meth:`refresh` picks up the records the writer appended since (an embedded consortium's
    peer worker writes the file; the gateway's side reads it).
    """

    def __init__(self, path: str | Path, *, fsync: bool = True, read_only: bool = False) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self.read_only = read_only
        self._lock = threading.Lock()
        self._offsets: list[int] = []
        self._end = 0
        self._file: BinaryIO
        if read_only:
            self._file = open(self.path, "rb")  # noqa: SIM115 - held open for the store's lifetime
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a+b")  # noqa: SIM115 - held open for the store's lifetime
        try:
            self.truncated_bytes = self._scan()
        except BaseException:
            self._file.close()
            raise
        self._last_hash: bytes | None = None

    def refresh(self) -> int:
        """(read-only) Index the records appended since the last scan; returns the height."""
        with self._lock:
            self._scan()
            self._last_hash = None
        return len(self._offsets)

    def _scan(self) -> int:
        f = self._file
        f.seek(0, os.SEEK_END)
        size = f.tell()
        pos = self._end
        f.seek(pos)
        while pos + _HEAD.size <= size:
            f.seek(pos)
            length, crc = _HEAD.unpack(f.read(_HEAD.size))
            # A zero length is no block: zeros left by a crash after the file grew would
            # otherwise pass, as CRC-32 of the empty payload is 0.
            if length == 0 or pos + _HEAD.size + length > size:
                break
            payload = f.read(length)
            if zlib.crc32(payload) != crc:
                # A crash tears only the last append. A damaged record followed by more data is
                # corruption of blocks already acknowledged: refuse rather than drop them.
                if f.read().strip(b"\x00"):
                    raise StorageError(
                        f"{self.path}: block {len(self._offsets)} at byte {pos} is damaged and "
                        "later blocks follow it; restore the file or re-sync it from another peer"
                    )
                break
            self._offsets.append(pos)
            pos += _HEAD.size + length
        self._end = pos
        if pos < size and not self.read_only:
            f.truncate(pos)
            f.flush()
            os.fsync(f.fileno())
        return size - pos

    def height(self) -> int:
        """Number of blocks stored; the next block appended must have this number."""
        return len(self._offsets)

    def append(self, block: Block) -> None:
        with self._lock:
            if self.read_only:
                raise StorageError(f"{self.path} is open read-only")
            if block.number != len(self._offsets):
                raise StorageError(
                    f"append of block {block.number} to a store of height {len(self._offsets)}"
                )
            payload = block.to_bytes()
            f = self._file
            f.seek(0, os.SEEK_END)
            offset = f.tell()
            f.write(_HEAD.pack(len(payload), zlib.crc32(payload)) + payload)
            f.flush()
            if self._fsync:
                os.fsync(f.fileno())
            self._offsets.append(offset)
            self._end = f.tell()
            self._last_hash = block.header.hash()

    def read_raw(self, number: int) -> bytes:
        with self._lock:
            if not 0 <= number < len(self._offsets):
                raise StorageError(f"no block {number} (height {len(self._offsets)})")
            f = self._file
            f.seek(self._offsets[number])
            length, _crc = _HEAD.unpack(f.read(_HEAD.size))
            return f.read(length)

    def get(self, number: int) -> Block:
        return decode_block(self.read_raw(number))

    def last_hash(self) -> bytes | None:
        """Header hash of the newest block, or None for an empty store."""
        if self._last_hash is None and self._offsets:
            self._last_hash = self.get(len(self._offsets) - 1).header.hash()
        return self._last_hash

    def __iter__(self) -> Iterator[Block]:
        for n in range(self.height()):
            yield self.get(n)

    def close(self) -> None:
        self._file.close()


def read_block_file(
    path: str | Path, *, check_crc: bool = True
) -> Iterator[tuple[int, bytes, bool]]:
    """Yield (offset, payload, checksum ok) of every record in a block file; never truncates.

    A truncated record raises StorageError; a checksum mismatch raises too unless ``check_crc`` is
    false, so ``careledger verify`` can report which semantic check a damaged block fails.
    """
    data = Path(path).read_bytes()
    pos = 0
    index = 0
    while pos < len(data):
        if pos + _HEAD.size > len(data):
            raise StorageError(f"block {index}: truncated record header at byte {pos}")
        length, crc = _HEAD.unpack_from(data, pos)
        payload = data[pos + _HEAD.size : pos + _HEAD.size + length]
        if len(payload) != length:
            raise StorageError(f"block {index}: truncated record at byte {pos}")
        crc_ok = zlib.crc32(payload) == crc
        if check_crc and not crc_ok:
            raise StorageError(f"block {index}: record checksum mismatch at byte {pos}")
        yield pos, payload, crc_ok
        pos += _HEAD.size + length
        index += 1
