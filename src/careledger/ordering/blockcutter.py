"""Block cutting: when a batch of envelopes becomes a block.

Pure logic with no clock and no I/O, like Fabric's ``orderer/common/blockcutter``: the caller
feeds envelopes and cuts on a timer when :meth:`BlockCutter.pending` is not empty.
"""

from __future__ import annotations

from careledger.ordering.base import CutterConfig


class BlockCutter:
    def __init__(self, config: CutterConfig) -> None:
        self.config = config
        self._batch: list[bytes] = []
        self._bytes = 0

    def ordered(self, envelope: bytes) -> list[list[bytes]]:
        """Add ``envelope``; return the batches (0, 1 or 2) that are now complete."""
        batches: list[list[bytes]] = []
        size = len(envelope)
        if size > self.config.preferred_max_bytes:
            # An oversized envelope goes in a block of its own, after what is pending.
            if self._batch:
                batches.append(self.cut())
            batches.append([envelope])
            return batches
        if self._bytes + size > self.config.preferred_max_bytes:
            batches.append(self.cut())
        self._batch.append(envelope)
        self._bytes += size
        if len(self._batch) >= self.config.max_tx_count:
            batches.append(self.cut())
        return batches

    def cut(self) -> list[bytes]:
        batch, self._batch, self._bytes = self._batch, [], 0
        return batch

    @property
    def pending(self) -> bool:
        return bool(self._batch)
