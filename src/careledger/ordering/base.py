"""The ordering service protocol.

An ordering service takes transaction envelopes from gateways and hands every peer the same
sequence of blocks. It does not validate transactions beyond their shape; peers do. Backends:
``solo`` (one in-process orderer: the embedded network and tests) and ``jetstream`` (NATS
JetStream, a Raft-replicated stream: the multi-process network).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from careledger.ledger.block import Block


@dataclass(frozen=True, slots=True)
class CutterConfig:
    """When to cut a block: whichever of count, bytes or timeout comes first."""

    max_tx_count: int = 500
    preferred_max_bytes: int = 2 * 1024 * 1024
    batch_timeout: float = 0.05


class OrderingService(Protocol):
    async def broadcast(self, envelope: bytes) -> None:
        """Accept one envelope for ordering.

        Returns once the envelope is durably queued for a block. Raises ``InvalidInput`` for an
        envelope that cannot be decoded or is too large (nothing is queued), and
        ``OrderingError`` when ordering is unavailable (the caller may retry; a retry of an
        envelope that was in fact queued is committed once, the duplicate marked invalid).
        """
        ...

    def deliver(self, start: int) -> AsyncIterator[Block]:
        """Blocks from number ``start`` on, in order, waiting for new ones; never skips one."""
        ...

    async def close(self) -> None:
        """Stop cutting blocks; pending envelopes are cut into a final block first."""
        ...
