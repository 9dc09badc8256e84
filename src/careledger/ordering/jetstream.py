"""JetStream ordering: transactions and blocks in two Raft-replicated NATS JetStream streams.

Consensus is JetStream's (one Raft group per stream); this module adds no consensus of its own.

- :class:`JetStreamOrdering` is what gateways and peers use (the :class:`OrderingService`
  protocol). ``broadcast`` publishes an envelope to the tx stream with ``Nats-Msg-Id`` = tx id, so
  the stream drops a re-submission within its duplicate window (peers' ``DUPLICATE_TXID`` catches
  the rest). With ``tx_batching`` concurrent envelopes share one message
  (:mod:`careledger.ordering.tx_batch`). ``deliver`` reads the blocks stream in order.
- :class:`JetStreamOrderer` is one orderer replica (one per organisation, each with its own
  ``orderer0`` identity). It cuts block N from the tx messages after the last tx sequence of
  block N-1 (whole messages, single envelopes or batches; an envelope whose transaction id the
  replica read earlier in the stream is dropped), signs it and appends it with
  ``Nats-Expected-Last-Sequence`` = the blocks-stream sequence of block N-1. Of racing replicas
  exactly one append succeeds; the others get error 10071, read the winner's block and cut the
  next one from where it ended. Each block message carries the last tx sequence it covers in a
  ``CareLedger-Tx-Last`` header, so consecutive blocks cover consecutive, disjoint ranges of the
  tx stream: every tx message is in exactly one block.

Which stream message is block N: the first message after block N-1 that is a valid successor
(number N, previous hash, Merkle root, signed by an orderer of the membership in force at N,
learnt from the replica's own peer — :mod:`careledger.ordering.chain_rule`). Anything
else in the blocks stream (a forged or replayed block) is skipped by orderers and rejected by
peers (which check the same things and more), so both sides follow the same chain. Without such
junk, block N is stream sequence N+1 (the genesis block is sequence 1); with it, later — so
``deliver(start)`` reads from sequence ``start + 1``, a lower bound, and skips older blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from careledger.aio import stop_task, within
from careledger.errors import EncodingError, InvalidInput, OrderingError
from careledger.identity.msp import LocalIdentity, Role
from careledger.ledger.block import Block, decode_block, make_block
from careledger.ledger.transaction import MAX_ENVELOPE_BYTES, decode_envelope, tx_id_of
from careledger.ordering.base import CutterConfig
from careledger.ordering.chain_rule import ChainHead, ChainRule, MembershipView
from careledger.ordering.jetstream_streams import (
    ANY_NATS_ERROR,
    ERR_DUPLICATE_IN_PROCESS,
    ERR_WRONG_LAST_SEQUENCE,
    EXPECTED_LAST_SEQ,
    MSG_ID,
    TRANSIENT_ERRORS,
    TX_LAST_HEADER,
    JetStreamSettings,
    StreamReader,
    connect,
    ensure_streams,
    err_code,
    publish,
    stream_seq,
)
from careledger.ordering.solo import sign_block
from careledger.ordering.tx_batch import (
    TX_BATCH_HEADER,
    TX_BATCH_VERSION,
    CoalescingPublisher,
    Queued,
    RecentTxIds,
    batch_msg_id,
    encode_batch,
    envelopes_of,
)

__all__ = ["JetStreamOrderer", "JetStreamOrdering", "JetStreamSettings"]

log = logging.getLogger(__name__)

_LAST_SEQ = re.compile(r"wrong last sequence: (\d+)")


class JetStreamOrdering:
    """The client side: gateways broadcast, peers deliver. Open with :meth:`connect`."""

    def __init__(self, settings: JetStreamSettings, nc: NATS) -> None:
        self.settings = settings
        self._nc = nc
        self._js = nc.jetstream(timeout=settings.publish_timeout)
        self._closed = False
        self._publisher = (
            CoalescingPublisher(self._publish_batch, max_inflight=settings.tx_batch_inflight)
            if settings.tx_batching
            else None
        )

    @property
    def publisher(self) -> CoalescingPublisher | None:
        """The coalescing publisher with ``tx_batching`` (its counts say how well it batched)."""
        return self._publisher

    @property
    def nc(self) -> NATS:
        """The NATS connection (a node also carries batched endorsement on it)."""
        return self._nc

    @classmethod
    async def connect(cls, settings: JetStreamSettings, role: str = "client") -> JetStreamOrdering:
        return cls(settings, await connect(settings, role))

    async def broadcast(self, envelope: bytes) -> None:
        if self._closed:
            raise OrderingError("the ordering client is closed")
        if not isinstance(envelope, bytes) or len(envelope) > MAX_ENVELOPE_BYTES:
            raise InvalidInput(f"an envelope is bytes of at most {MAX_ENVELOPE_BYTES}")
        try:
            tx_id = tx_id_of(decode_envelope(envelope).proposal)
        except EncodingError as exc:
            raise InvalidInput(f"malformed envelope: {exc}") from exc
        if self._publisher is not None:
            await self._publisher.submit(envelope, tx_id)
            return
        deadline = asyncio.get_running_loop().time() + self.settings.broadcast_timeout
        await self._publish(envelope, {MSG_ID: tx_id}, f"transaction {tx_id}", deadline)

    async def _publish_batch(self, batch: list[Queued]) -> None:
        """One tx message for ``batch`` (a lone envelope in the single-envelope format)."""
        deadline = batch[0].since + self.settings.broadcast_timeout
        if len(batch) == 1:
            tx_id = batch[0].tx_id
            what = f"transaction {tx_id}"
            await self._publish(batch[0].envelope, {MSG_ID: tx_id}, what, deadline)
            return
        ids = [q.tx_id for q in batch]
        headers = {MSG_ID: batch_msg_id(ids), TX_BATCH_HEADER: TX_BATCH_VERSION}
        what = f"a batch of {len(ids)} transactions ({ids[0]}, …)"
        await self._publish(encode_batch([q.envelope for q in batch]), headers, what, deadline)

    async def _publish(
        self, payload: bytes, headers: dict[str, str], what: str, deadline: float
    ) -> None:
        """Publish to the tx stream, retrying transient failures until ``deadline`` (loop time)."""
        s = self.settings
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            remaining = deadline - loop.time()
            try:
                await publish(
                    self._js,
                    s.tx_subject,
                    payload,
                    headers,
                    min(s.publish_timeout, max(remaining, 0.05)),
                )
                return  # stored, or already stored (PubAck.duplicate): either way queued once
            except nats.js.errors.APIError as exc:
                if err_code(exc) != ERR_DUPLICATE_IN_PROCESS and not isinstance(
                    exc, TRANSIENT_ERRORS
                ):
                    raise OrderingError(f"the tx stream refused {what}: {exc}") from exc
                error: BaseException = exc
            except TRANSIENT_ERRORS as exc:
                error = exc
            attempt += 1
            if loop.time() + 0.05 >= deadline:
                raise OrderingError(
                    f"ordering unavailable: {what} not acknowledged by the NATS "
                    f"cluster within {s.broadcast_timeout}s ({type(error).__name__}); "
                    "the cluster may have lost quorum; retry later"
                ) from error
            await asyncio.sleep(min(0.05 * attempt, 0.5, max(deadline - loop.time(), 0)))

    async def deliver(self, start: int) -> AsyncIterator[Block]:
        reader = StreamReader(
            self._js,
            self.settings.blocks_stream,
            self.settings.blocks_subject,
            start + 1,
            timeout=self.settings.publish_timeout,
        )
        try:
            while not self._closed and not self._nc.is_closed:
                for msg in await reader.read(self.settings.fetch_wait):
                    try:
                        block = decode_block(msg.data)
                    except EncodingError:
                        log.warning("blocks stream message %d is not a block", stream_seq(msg))
                        continue
                    if block.number >= start:
                        yield block
        finally:
            await reader.close()

    def health(self) -> str:
        """The NATS connection's state in words (the web UI's dashboard shows it)."""
        if self._closed or self._nc.is_closed:
            return "NATS connection closed"
        if self._nc.is_connected:
            url = self._nc.connected_url
            return f"NATS connected to {url.netloc if url is not None else 'the cluster'}"
        return "NATS reconnecting"

    async def close(self) -> None:
        """Close the connection: ``broadcast`` refuses, ``deliver`` iterators end."""
        self._closed = True
        if self._publisher is not None:
            await self._publisher.aclose(OrderingError("the ordering client is closed"))
        with contextlib.suppress(*ANY_NATS_ERROR):
            await within(self._nc.close(), self.settings.publish_timeout)


@dataclass(slots=True)
class _TxEntry:
    seq: int
    envelopes: list[bytes]  # after de-duplication: possibly none
    arrived: float
    size: int


class JetStreamOrderer:
    """One orderer replica. ``await start()``; ``await close()`` cuts what is pending first."""

    def __init__(
        self,
        settings: JetStreamSettings,
        signer: LocalIdentity,
        genesis: Block,
        cutter: CutterConfig | None = None,
        view: MembershipView | None = None,
    ) -> None:
        if signer.cert.role != Role.ORDERER:
            raise InvalidInput(f"{signer.org}.{signer.cert.name} is not an orderer")
        self.settings = settings
        self.signer = signer
        self.cutter_config = cutter or CutterConfig()
        self.rule = ChainRule(genesis, view)
        self.head: ChainHead | None = None
        self._scanned = 0
        """The last blocks-stream sequence examined (the head's, or a later rejected message)."""
        self.messages_read = 0
        """Blocks-stream messages read to follow the chain (a restart from the peer's head reads
        one, not the whole stream)."""
        self.blocks_cut = 0
        """Blocks this replica appended (won)."""
        self.races_lost = 0
        """Appends refused because another replica's block N was there first."""
        self.refused_to_sign = 0
        """Blocks not cut because the membership in force does not let this replica sign."""
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._tx_reader: StreamReader | None = None
        self._buffer: deque[_TxEntry] = deque()
        self._recent = RecentTxIds(settings.duplicate_window)
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def name(self) -> str:
        return f"{self.signer.org}.{self.signer.cert.name}"

    async def start(self) -> None:
        s = self.settings
        self._nc = await connect(s, f"orderer-{self.name}")
        self._js = self._nc.jetstream(timeout=s.publish_timeout)
        try:
            await ensure_streams(self._js, s)
            await self._bootstrap()
        except BaseException:
            await self._nc.close()
            raise
        assert self.head is not None
        self._tx_reader = StreamReader(
            self._js, s.tx_stream, s.tx_subject, self.head.tx_last + 1, timeout=s.publish_timeout
        )
        self._task = asyncio.create_task(self._run(), name=f"orderer {self.name}")

    async def _bootstrap(self) -> None:
        """Find the chain head; append the genesis block to an empty blocks stream."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0
        genesis = self.rule.genesis
        await self._resume_from_known()
        while True:
            try:
                await self._catch_up()
                if self.head is not None:
                    return
                await publish(
                    self._require_js(),
                    self.settings.blocks_subject,
                    genesis.to_bytes(),
                    {EXPECTED_LAST_SEQ: str(self._scanned), TX_LAST_HEADER: "0"},
                    self.settings.publish_timeout,
                )
            except nats.js.errors.APIError as exc:
                if err_code(exc) == ERR_WRONG_LAST_SEQUENCE:
                    found = _LAST_SEQ.search(exc.description or "")
                    await self._catch_up(int(found.group(1)) if found else 0)
                elif not isinstance(exc, TRANSIENT_ERRORS):
                    raise OrderingError(f"{self.name}: cannot append genesis: {exc}") from exc
            except TRANSIENT_ERRORS as exc:
                if loop.time() > deadline:
                    raise OrderingError(f"{self.name}: NATS unavailable: {exc!r}") from exc
                await asyncio.sleep(0.2)

    async def _resume_from_known(self) -> None:
        """Start from the last block the view knows (the peer's) if the stream has it where a
        stream without junk would: block N at sequence N+1. Else scan from the start."""
        known = self.rule.view.last_known()
        if known is None or known.number == 0:
            return
        seq = known.number + 1
        try:
            msg = await asyncio.wait_for(
                self._require_js().get_msg(self.settings.blocks_stream, seq),
                self.settings.publish_timeout + 0.5,
            )
        except nats.js.errors.NotFoundError:
            return
        except TRANSIENT_ERRORS:
            return  # the scan below retries
        self.messages_read += 1
        head = self.rule.resume_point(known, msg.data or b"", msg.headers, seq)
        if head is not None:
            self.head, self._scanned = head, seq
            log.info("%s: resumed at block %d (stream sequence %d)", self.name, head.number, seq)

    def _require_js(self) -> JetStreamContext:
        if self._js is None:
            raise OrderingError(f"orderer {self.name} is not started")
        return self._js

    async def _catch_up(self, until: int = 0) -> None:
        """Read the blocks stream after the head up to its end, following the chain rule.

        Uses message get (answered by the stream leader) so that "the end" is current. ``until``
        is a sequence known to exist: a 10071 reply counts messages the leader has proposed but
        not yet applied, so a get can briefly miss them; wait (bounded) for them to land.
        """
        js = self._require_js()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.publish_timeout
        seq = self._scanned + 1
        while True:
            try:
                msg = await asyncio.wait_for(
                    js.get_msg(self.settings.blocks_stream, seq),
                    self.settings.publish_timeout + 0.5,
                )
            except nats.js.errors.NotFoundError:
                if seq <= until and loop.time() < deadline:
                    await asyncio.sleep(0.005)
                    continue
                return
            self.messages_read += 1
            new = await self.rule.successor(self.head, msg.data or b"", msg.headers, seq)
            if new is not None:
                self.head = new
            else:
                log.warning("%s: blocks stream message %d is not the next block", self.name, seq)
            self._scanned = seq
            seq += 1

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                cut = await self._next_batch()
                if cut is None:
                    return
                await self._append(*cut)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep cutting whatever the server does; log and retry
                log.warning("%s: %r; retrying in %.2fs", self.name, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                with contextlib.suppress(*TRANSIENT_ERRORS):
                    await self._catch_up()

    async def _next_batch(self) -> tuple[list[bytes], int] | None:
        """Wait until a block is due; return its envelopes and the last tx sequence it covers.

        A block holds whole tx messages (each block covers a range of the stream): it is cut
        after the message that brings it to ``max_tx_count`` envelopes, before one that would
        take it over ``preferred_max_bytes`` (a message bigger than that alone is a block of
        its own), or ``batch_timeout`` after its first envelope arrived."""
        assert self._tx_reader is not None
        loop = asyncio.get_running_loop()
        config = self.cutter_config
        while True:
            head = self.head
            assert head is not None
            while self._buffer and self._buffer[0].seq <= head.tx_last:
                self._buffer.popleft()
            block: list[bytes] = []
            size = 0
            first: float | None = None
            for i, entry in enumerate(self._buffer):
                if not entry.envelopes:
                    continue
                if block and size + entry.size > config.preferred_max_bytes:
                    return block, self._buffer[i - 1].seq
                block.extend(entry.envelopes)
                size += entry.size
                first = entry.arrived if first is None else first
                if len(block) >= config.max_tx_count or size > config.preferred_max_bytes:
                    return block, entry.seq
            if first is not None:
                wait = first + config.batch_timeout - loop.time()
                if wait <= 0.001 or self._closing:
                    return block, self._buffer[-1].seq
            else:
                if self._closing:
                    return None
                wait = self.settings.fetch_wait
            for msg in await self._tx_reader.read(wait):
                seq = stream_seq(msg)
                if seq > head.tx_last:
                    envelopes = self._recent.fresh(envelopes_of(msg.data, msg.headers))
                    size = sum(len(e) for e in envelopes)
                    self._buffer.append(_TxEntry(seq, envelopes, loop.time(), size))

    async def _append(self, batch: list[bytes], tx_last: int) -> None:
        head = self.head
        assert head is not None
        if not self.rule.may_sign(self.signer.identity):
            # Revoked: every peer would refuse a block of ours. Follow the chain instead.
            if not self.refused_to_sign:
                log.error("%s is not a current orderer: not cutting blocks", self.name)
            self.refused_to_sign += 1
            await asyncio.sleep(self.settings.fetch_wait)
            await self._catch_up()
            return
        block = make_block(head.number + 1, head.hash, batch, int(time.time() * 1000))
        sign_block(block, self.signer)
        headers = {EXPECTED_LAST_SEQ: str(self._scanned), TX_LAST_HEADER: str(tx_last)}
        try:
            ack = await publish(
                self._require_js(),
                self.settings.blocks_subject,
                block.to_bytes(),
                headers,
                self.settings.publish_timeout,
            )
        except nats.js.errors.APIError as exc:
            if err_code(exc) == ERR_WRONG_LAST_SEQUENCE:
                self.races_lost += 1
                found = _LAST_SEQ.search(exc.description or "")
                await self._catch_up(int(found.group(1)) if found else 0)
                return
            if isinstance(exc, TRANSIENT_ERRORS):
                await self._resolve_unknown()
                return
            raise
        except TRANSIENT_ERRORS:
            await self._resolve_unknown()
            return
        if ack.seq == self._scanned + 1 and not ack.duplicate:
            self.head = ChainHead(block.number, block.header.hash(), ack.seq, tx_last)
            self._scanned = ack.seq
            self.blocks_cut += 1
        else:
            await self._catch_up()

    async def _resolve_unknown(self) -> None:
        """A publish whose outcome is unknown: the stream, once reachable, says what happened.
        A block of ours that was stored is then simply the head (a retried append is a no-op)."""
        while True:
            try:
                await self._catch_up()
                return
            except TRANSIENT_ERRORS:
                if self._closing:
                    raise
                await asyncio.sleep(0.2)

    async def close(self, timeout: float = 5.0) -> None:
        """Cut what is pending into a final block (within ``timeout``), then disconnect."""
        self._closing = True
        task, self._task = self._task, None
        head = self.head
        pending = head and any(e.seq > head.tx_last and e.envelopes for e in self._buffer)
        if task is not None and not pending:
            task.cancel()  # nothing pending: do not wait for an idle pull request to expire
        if task is not None:
            await asyncio.wait({task}, timeout=timeout)
            if not task.done():
                log.warning("%s: stopped without a final cut (nothing acknowledged)", self.name)
            error = await stop_task(task)
            if error is not None:
                log.warning("%s: stopped without a final cut: %r", self.name, error)
        if self._tx_reader is not None:
            with contextlib.suppress(*ANY_NATS_ERROR):
                await self._tx_reader.close()
        if self._nc is not None:
            with contextlib.suppress(*ANY_NATS_ERROR):
                await within(self._nc.close(), self.settings.publish_timeout)

    async def kill(self) -> None:
        """Stop at once, cutting nothing (a crash, for tests)."""
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task)
        if self._nc is not None:
            with contextlib.suppress(*ANY_NATS_ERROR):
                await within(self._nc.close(), self.settings.publish_timeout)
