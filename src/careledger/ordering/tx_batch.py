"""Several envelopes in one tx-stream message: the gateway's coalescing publisher, the message
format, and the orderer's de-duplication by transaction id.

Every JetStream publish is a request, an R3 replication and an fsync on each server; the
profile of the nodes pointed at NATS writes. Measured on the project machine it did not pay
(docs/benchmarks.md, "Issue 12: batch submit and several envelopes per tx message"): the
setting is opt-in and ``network up`` leaves it off.

Format. A message without the :data:`TX_BATCH_HEADER` header is one envelope (the format every
stream held before, still written for a batch of one). With ``CareLedger-Tx-Batch: 1`` the
payload is a CBOR array of envelopes (byte strings), in the order they are to be ordered.
Orderers read both; a gateway writes batches only with ``[ordering] tx_batching = true``, which
every orderer replica of the network must understand (an older replica would put the whole
batch in a block as one malformed transaction).

De-duplication. A lone envelope keeps ``Nats-Msg-Id`` = its transaction id, so the stream
itself drops a re-submission within its duplicate window. A batch's id is a hash of its
transaction ids (a retried publish of the same batch is dropped), so the same transaction in
two batches is not caught by the stream: the orderer replica drops every envelope whose
transaction id it has already read from the tx stream in the last ``window`` seconds
(:class:`RecentTxIds`). Peers still mark any duplicate that gets through ``DUPLICATE_TXID``;
a transaction id commits at most once either way.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import cbor2

from careledger.errors import EncodingError, OrderingError
from careledger.ledger.transaction import decode_envelope

log = logging.getLogger(__name__)

TX_BATCH_HEADER = "CareLedger-Tx-Batch"
"""Tx message header: the payload is a CBOR array of envelopes; the value is the format
version (``1``)."""
TX_BATCH_VERSION = "1"

#: Most envelopes a gateway puts in one message, and its largest payload (the servers of
#: ``network up`` accept 8 MB messages; one envelope may be up to 4 MiB and then goes alone).
MAX_BATCH_ENVELOPES = 256
MAX_BATCH_BYTES = 1024 * 1024


def encode_batch(envelopes: list[bytes]) -> bytes:
    return bytes(cbor2.dumps(envelopes))


def envelopes_of(data: bytes, headers: Mapping[str, str] | None) -> list[bytes]:
    """The envelopes a tx-stream message carries, in order (a malformed batch: none, logged)."""
    version = (headers or {}).get(TX_BATCH_HEADER)
    if version is None:
        return [data]
    if version != TX_BATCH_VERSION:
        log.warning("tx message of batch format %r, not %s: skipped", version, TX_BATCH_VERSION)
        return []
    try:
        value = cbor2.loads(data)
    except Exception:  # cbor2 raises several unrelated types on hostile input
        log.warning("tx message is not a CBOR batch: skipped")
        return []
    if not isinstance(value, list) or not all(isinstance(e, bytes) for e in value):
        log.warning("tx message batch is not an array of byte strings: skipped")
        return []
    return value


def batch_msg_id(tx_ids: list[str]) -> str:
    """``Nats-Msg-Id`` of a batch: a retry of the same publish is the same message."""
    digest = hashlib.sha256("\n".join(tx_ids).encode()).hexdigest()
    return f"batch-{digest}"


def _tx_key(envelope: bytes) -> bytes | None:
    """The SHA-256 of an envelope's proposal (its transaction id, as bytes); None: malformed
    (left to the peers, which mark it invalid)."""
    try:
        return hashlib.sha256(decode_envelope(envelope).proposal).digest()
    except EncodingError:
        return None


class RecentTxIds:
    """Transaction ids read from the tx stream in the last ``window`` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: set[bytes] = set()
        self._order: collections.deque[tuple[float, bytes]] = collections.deque()
        self.dropped = 0
        """Envelopes dropped as repeats (for the operator's log)."""

    def fresh(self, envelopes: list[bytes], now: float | None = None) -> list[bytes]:
        """``envelopes`` less those whose transaction id was seen before (remembering the rest)."""
        now = time.monotonic() if now is None else now
        order, seen = self._order, self._seen
        limit = now - self.window
        while order and order[0][0] < limit:
            seen.discard(order.popleft()[1])
        out: list[bytes] = []
        for envelope in envelopes:
            key = _tx_key(envelope)
            if key is not None:
                if key in seen:
                    self.dropped += 1
                    continue
                seen.add(key)
                order.append((now, key))
            out.append(envelope)
        return out


@dataclass(frozen=True, slots=True)
class Queued:
    envelope: bytes
    tx_id: str
    since: float  # loop time it was queued


Publish = Callable[[list[Queued]], Awaitable[None]]


class CoalescingPublisher:
    """Queues envelopes and publishes them as few messages as load allows.

    No timer: an envelope goes out at once while fewer than ``max_inflight`` publishes are
    unacknowledged; otherwise it joins the next message with everything queued meanwhile (at
    most :data:`MAX_BATCH_ENVELOPES` and :data:`MAX_BATCH_BYTES`). Each caller's ``submit``
    returns when its message is acknowledged, or raises what ``publish`` raised for it.
    """

    def __init__(self, publish: Publish, *, max_inflight: int = 1) -> None:
        self.publish = publish
        self.max_inflight = max_inflight
        self._queue: collections.deque[tuple[Queued, asyncio.Future[None]]] = collections.deque()
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        #: Messages published and envelopes carried (the node logs them at stop).
        self.messages = 0
        self.envelopes = 0

    async def submit(self, envelope: bytes, tx_id: str) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._queue.append((Queued(envelope, tx_id, loop.time()), fut))
        self._pump()
        await fut

    def _pump(self) -> None:
        while self._queue and self._inflight < self.max_inflight:
            batch = [self._queue.popleft()]
            size = len(batch[0][0].envelope)
            while self._queue and len(batch) < MAX_BATCH_ENVELOPES:
                nxt = len(self._queue[0][0].envelope)
                if size + nxt > MAX_BATCH_BYTES:
                    break
                batch.append(self._queue.popleft())
                size += nxt
            self._inflight += 1
            task = asyncio.create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[tuple[Queued, asyncio.Future[None]]]) -> None:
        try:
            self.messages += 1
            self.envelopes += len(batch)
            await self.publish([item for item, _ in batch])
        except BaseException as exc:  # never leave a caller waiting
            error = exc if isinstance(exc, Exception) else OrderingError("ordering client closed")
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(error)
            if not isinstance(exc, Exception):
                raise
        else:
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)
        finally:
            self._inflight -= 1
            self._pump()

    async def aclose(self, error: BaseException) -> None:
        """Fail what is queued with ``error`` and stop what is in flight."""
        while self._queue:
            _, fut = self._queue.popleft()
            if not fut.done():
                fut.set_exception(error)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1.0)
