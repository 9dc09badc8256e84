"""The world-state storage protocol.

A state store holds, per contract namespace, the current value and version of every key, the
history of every key, the index of committed transaction ids, and its height: the number of blocks
whose updates it has applied. ``commit`` applies one block's updates atomically and advances the
height by one, so after a crash the store is at some block boundary and the peer replays the
blocks after it. Implementations: :mod:`.memory` (tests), :mod:`.sqlite` (embedded default) and
:mod:`.postgres` (production).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

from careledger.crypto import encoding
from careledger.ledger.transaction import Version

EMPTY_ROOT = bytes(32)


@dataclass(frozen=True, slots=True)
class VersionedValue:
    value: bytes
    version: Version


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    version: Version
    value: bytes | None
    tx_id: str

    @property
    def deleted(self) -> bool:
        return self.value is None


@dataclass(frozen=True, slots=True)
class TxRecord:
    tx_id: str
    block: int
    index: int
    code: int


@dataclass(frozen=True, slots=True)
class StateWrite:
    namespace: str
    key: str
    value: bytes | None
    version: Version
    tx_id: str


@dataclass(slots=True)
class BlockUpdate:
    """Everything one block changes in the state store."""

    number: int
    writes: list[StateWrite] = field(default_factory=list)
    txs: list[TxRecord] = field(default_factory=list)

    def next_root(self, previous_root: bytes) -> bytes:
        """Chained commitment to the applied writes: equal on two nodes that applied the same."""
        body = encoding.encode_trusted(
            [self.number, [[w.namespace, w.key, w.value] for w in self.writes]]
        )
        return hashlib.sha256(previous_root + hashlib.sha256(body).digest()).digest()


class StateStore(Protocol):
    """Versioned key/value state. Readers may run concurrently; one writer calls ``commit``."""

    def height(self) -> int:
        """Number of blocks applied; the next block to commit has this number."""
        ...

    def state_root(self) -> bytes:
        """Commitment to every write applied so far (see :meth:`BlockUpdate.next_root`)."""
        ...

    def get(self, namespace: str, key: str) -> VersionedValue | None:
        """Current value of ``key``, or None if it does not exist (or was deleted)."""
        ...

    def range(
        self, namespace: str, start: str, end: str, limit: int | None = None
    ) -> list[tuple[str, VersionedValue]]:
        """Keys with ``start <= key < end`` in key order (``end == ""`` means no upper bound)."""
        ...

    def history(self, namespace: str, key: str) -> list[HistoryEntry]:
        """Every committed write of ``key``, oldest first."""
        ...

    def tx(self, tx_id: str) -> TxRecord | None:
        """Where a transaction id was first committed, or None if never."""
        ...

    def commit(self, update: BlockUpdate) -> None:
        """Apply one block's updates atomically.

        Raises StorageError if ``update.number != height()`` (nothing is applied then).
        """
        ...

    def close(self) -> None: ...
