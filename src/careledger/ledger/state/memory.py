"""In-memory state store, for tests and for re-verifying a chain (``careledger verify``)."""

from __future__ import annotations

import bisect

from careledger.errors import StorageError
from careledger.ledger.state.base import (
    EMPTY_ROOT,
    BlockUpdate,
    HistoryEntry,
    TxRecord,
    VersionedValue,
)


class MemoryStateStore:
    def __init__(self) -> None:
        self._height = 0
        self._root = EMPTY_ROOT
        self._values: dict[str, dict[str, VersionedValue]] = {}
        self._keys: dict[str, list[str]] = {}
        self._history: dict[tuple[str, str], list[HistoryEntry]] = {}
        self._txs: dict[str, TxRecord] = {}

    def height(self) -> int:
        return self._height

    def state_root(self) -> bytes:
        return self._root

    def get(self, namespace: str, key: str) -> VersionedValue | None:
        return self._values.get(namespace, {}).get(key)

    def range(
        self, namespace: str, start: str, end: str, limit: int | None = None
    ) -> list[tuple[str, VersionedValue]]:
        keys = self._keys.get(namespace, [])
        lo = bisect.bisect_left(keys, start)
        hi = bisect.bisect_left(keys, end) if end else len(keys)
        selected = keys[lo:hi] if limit is None else keys[lo:hi][:limit]
        values = self._values[namespace] if selected else {}
        return [(k, values[k]) for k in selected]

    def history(self, namespace: str, key: str) -> list[HistoryEntry]:
        return list(self._history.get((namespace, key), []))

    def tx(self, tx_id: str) -> TxRecord | None:
        return self._txs.get(tx_id)

    def commit(self, update: BlockUpdate) -> None:
        if update.number != self._height:
            raise StorageError(f"commit of block {update.number} at state height {self._height}")
        for w in update.writes:
            values = self._values.setdefault(w.namespace, {})
            keys = self._keys.setdefault(w.namespace, [])
            if w.value is None:
                if values.pop(w.key, None) is not None:
                    keys.pop(bisect.bisect_left(keys, w.key))
            else:
                if w.key not in values:
                    bisect.insort(keys, w.key)
                values[w.key] = VersionedValue(w.value, w.version)
            self._history.setdefault((w.namespace, w.key), []).append(
                HistoryEntry(w.version, w.value, w.tx_id)
            )
        for t in update.txs:
            self._txs.setdefault(t.tx_id, t)
        self._root = update.next_root(self._root)
        self._height += 1

    def close(self) -> None:
        pass
