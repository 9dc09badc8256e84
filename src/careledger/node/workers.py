"""Peers in worker processes: the embedded consortium on more than one core.

``EmbeddedNetwork.open(dir, workers=True)`` runs each organisation's block validation and commit
in a process of its own, beside the event loop that endorses, orders and serves clients. A
profile of ``careledger bench ledger`` put half of the one event loop's time in the three peers'
validation and commit (decoding, policy, MVCC, SQLite, waiting for signature checks); in a worker
that work runs on the other core while the loop endorses the next transactions.

The loop keeps a view of each peer, :class:`WorkerPeer`: a :class:`Peer` over the same stores
opened for reading (SQLite in WAL mode shows a reader each commit; the block file is indexed as
the worker appends). Endorsement, queries, commit waiters and commit events therefore work as for
an in-process peer; only ``commit_block`` belongs to the worker. A simulation may read keys
before and after a commit lands, as an endorser in another process can: MVCC validation at the
block decides, as it does for every transaction.

The link is a Unix socket pair per worker carrying length-prefixed CBOR frames:

- loop → worker: ``[block bytes, [memo keys], [canonical digests]]`` per block the orderer
  delivers; an empty frame ends the stream (the worker commits what it has and exits). The memo
  keys are the signatures the view verified (proposal creators) and made (its endorsements)
  while endorsing, so the worker's validation does not verify them again — the same saving as an
  in-process peer's memo; the digests are the SHA-256 of the proposals and responses it endorsed
  (known canonical), so the worker does not re-encode them to prove it.
- worker → loop: ``{"ready": height}`` once its stores are open and recovered, then per block
  ``{"block", "codes", "events", "gov", "checked", "cpu_ms"}``, ``{"block", "rejected": reason}``
  for a block that fails the block checks, or ``{"error": reason}`` before it exits on a failure.

Crash safety is the peer's own: the worker commits each block exactly as :class:`Peer` does
(block file fsynced, then the state commit), and recovery runs when a worker opens its stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from careledger.contracts.registry import ContractRegistry
from careledger.crypto.encoding import decode, encode_trusted, remember_canonical
from careledger.crypto.keys import BatchVerifier, SignatureMemo
from careledger.errors import CareLedgerError, ChainVerificationError, StorageError
from careledger.identity.msp import LocalIdentity
from careledger.ledger.block import Block, decode_block
from careledger.ledger.blockstore import BlockStore
from careledger.ledger.codes import ValidationCode
from careledger.ledger.state.sqlite import SQLiteStateStore
from careledger.ledger.transaction import Endorsement
from careledger.node.consortium import ConsortiumConfig, load_config, open_peer
from careledger.node.peer import CommitEvent, Peer
from careledger.ordering.solo import SoloOrderer
from careledger.validation.validator import ValidatedBlock

_log = logging.getLogger(__name__)
_LEN = struct.Struct(">I")
#: How long a worker may take to open and recover its stores.
READY_SECONDS = 120.0


class PeerWorkerError(CareLedgerError):
    """A peer worker process failed; the message is the worker's own error."""


class ForwardingMemo(SignatureMemo):
    """A signature memo that also lists what it learnt since the last :meth:`drain`."""

    def __init__(self, capacity: int = 50_000) -> None:
        super().__init__(capacity)
        self._fresh: list[bytes] = []

    def add_key(self, key: bytes) -> None:
        super().add_key(key)
        self._fresh.append(key)

    def drain(self) -> list[bytes]:
        fresh, self._fresh = self._fresh, []
        return fresh


class WorkerPeer(Peer):
    """The event loop's view of a peer whose worker process validates and commits."""

    def __init__(
        self,
        identity: LocalIdentity,
        data_dir: Path,
        registry: ContractRegistry,
        verifier: BatchVerifier,
    ) -> None:
        self.reader = SQLiteStateStore(data_dir / "state.db")
        state = self.reader
        try:
            blocks = BlockStore(data_dir / "blocks.log", read_only=True)
        except BaseException:
            state.close()
            raise
        self.forwarding = ForwardingMemo()
        super().__init__(
            identity, state, blocks, registry, verifier, memo=self.forwarding, recover=False
        )
        #: Signatures the worker's validation verified (its batch verifier's count).
        self.checked = 0
        #: CPU seconds the worker process has used (all its threads), as of its last report.
        self.cpu_seconds = 0.0
        #: SHA-256 of canonical proposals and responses endorsed since the last block was sent.
        self.canonical: list[bytes] = []

    def endorse(self, proposal_bytes: bytes, signature: bytes) -> tuple[bytes, Endorsement]:
        """Endorse as a peer does, and note that both the proposal (decoded canonically to be
        endorsed) and the response (encoded here) are canonical, for the worker's validation."""
        response, endorsement = super().endorse(proposal_bytes, signature)
        self.canonical.append(hashlib.sha256(proposal_bytes).digest())
        self.canonical.append(hashlib.sha256(response).digest())
        return response, endorsement

    def drain_canonical(self) -> list[bytes]:
        fresh, self.canonical = self.canonical, []
        return fresh

    def commit_block(self, block: Block) -> ValidatedBlock:
        raise StorageError(f"{self.identity.label}'s worker process commits its blocks")

    def committed(self, message: dict[str, Any]) -> None:
        """Apply a worker's report of one committed block."""
        self.checked = int(message["checked"])
        self.cpu_seconds = float(message["cpu_ms"]) / 1000
        self.reader.reload()
        self.blocks.refresh()
        if message["gov"]:
            self.validator.invalidate()
        self.notify_commit(
            CommitEvent(
                int(message["block"]),
                [(tx_id, ValidationCode(code)) for tx_id, code in message["codes"]],
                [(tx_id, name, payload) for tx_id, name, payload in message["events"]],
            )
        )


class CommitBarrier:
    """Applies the workers' reports of a block to every view at once, when all have reported.

    In-process peers commit a block one after the other before anything else runs, so a client
    whose gateway returned can ask any organisation's peer about what it wrote (a governance
    proposal, an account it opened). Workers commit at their own pace; releasing a block's commit
    events together keeps that guarantee (a gateway returns once every peer committed).
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pending: dict[int, list[tuple[PeerWorker, dict[str, Any]]]] = {}

    def report(self, worker: PeerWorker, message: dict[str, Any]) -> None:
        number = int(message["block"])
        self._pending.setdefault(number, []).append((worker, message))
        self._release()

    def drop(self, worker: PeerWorker) -> None:
        """``worker`` failed: stop waiting for its reports."""
        self.workers -= 1
        for reports in self._pending.values():
            reports[:] = [(w, m) for w, m in reports if w is not worker]
        self._release()

    def _release(self) -> None:
        for number in sorted(self._pending):
            reports = self._pending[number]
            if len(reports) < self.workers:
                return  # blocks are released in order
            del self._pending[number]
            for reporter, report in reports:
                reporter.apply(report)


class PeerWorker:
    """One worker process and its link, seen from the event loop."""

    def __init__(self, config: ConsortiumConfig, org: str, *, fsync: bool) -> None:
        self.config = config
        self.org = org
        self.fsync = fsync
        self.view: WorkerPeer | None = None
        self.failure: PeerWorkerError | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ended = False

    @property
    def pid(self) -> int | None:
        """The worker's process id, once started."""
        return None if self._process is None else self._process.pid

    async def start(
        self, registry: ContractRegistry, verifier: BatchVerifier, height: int
    ) -> WorkerPeer:
        """Start the process, wait until its stores are open at ``height``, open the view."""
        ours, theirs = socket.socketpair()
        try:
            # A fresh interpreter running this module (not multiprocessing's spawn, which would
            # import the caller's main script again).
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                __name__,
                str(self.config.dir),
                self.org,
                "fsync" if self.fsync else "no-fsync",
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        ready = await asyncio.wait_for(self._read(), READY_SECONDS)
        if ready is None or "ready" not in ready:
            raise PeerWorkerError(f"{self.org}'s peer worker did not start: {ready}")
        if ready["ready"] != height:
            raise StorageError(f"{self.org}'s peer worker opened at block {ready['ready']}")
        identity = self.config.member(self.org, "peer0")
        self.view = WorkerPeer(identity, self.config.data_dir(self.org), registry, verifier)
        return self.view

    def run(self, orderer: SoloOrderer, barrier: CommitBarrier) -> list[asyncio.Task[None]]:
        """Feed delivered blocks to the worker and pass its reports to ``barrier`` (two tasks)."""
        self._tasks = [
            asyncio.create_task(self._feed(orderer)),
            asyncio.create_task(self._receive(barrier)),
        ]
        return self._tasks

    async def _feed(self, orderer: SoloOrderer) -> None:
        assert self.view is not None
        assert self._writer is not None
        try:
            async for block in orderer.deliver(self.view.height()):
                frame = encode_trusted(
                    [block.to_bytes(), self.view.forwarding.drain(), self.view.drain_canonical()]
                )
                self._writer.write(_LEN.pack(len(frame)) + frame)
                await self._writer.drain()  # the worker reads while it is not committing
            self._ended = True
            self._writer.write(_LEN.pack(0))  # end of stream
            await self._writer.drain()
        except ConnectionError:
            # The worker is gone; the receiving side reports why (its error, or its exit).
            return

    async def _receive(self, barrier: CommitBarrier) -> None:
        try:
            while (message := await self._read()) is not None:
                if "error" in message:
                    self.failure = PeerWorkerError(f"{self.org}'s peer worker: {message['error']}")
                    return
                barrier.report(self, message)
            if not self._ended:
                self.failure = PeerWorkerError(f"{self.org}'s peer worker exited unexpectedly")
        finally:
            if self.failure is not None:
                # The other peers carry on; this organisation's commit waiters time out, as
                # they do when an in-process peer fails.
                barrier.drop(self)

    def apply(self, message: dict[str, Any]) -> None:
        """Apply one report of the worker to the view."""
        assert self.view is not None
        if "rejected" in message:
            self.view.rejected_blocks += 1
            self.view.checked = int(message["checked"])
            _log.warning("%s's peer worker refused a block: %s", self.org, message["rejected"])
        else:
            self.view.committed(message)

    async def _read(self) -> dict[str, Any] | None:
        assert self._reader is not None
        try:
            (length,) = _LEN.unpack(await self._reader.readexactly(_LEN.size))
            body = await self._reader.readexactly(length)
            message: dict[str, Any] = decode(body, canonical=False)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None  # the worker closed its end, or is gone
        return message

    def check(self) -> None:
        """Raise the worker's failure, if it failed."""
        if self.failure is not None:
            raise self.failure
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise PeerWorkerError(f"{self.org}'s peer link failed") from task.exception()
        if self._process is not None and self._process.returncode not in (None, 0):
            raise PeerWorkerError(
                f"{self.org}'s peer worker exited with code {self._process.returncode}"
            )

    async def close(self) -> None:
        """Stop the link and the process (the worker closes its stores on end of stream or when
        its link closes), and close the view."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self._writer.wait_closed()
        if self._process is not None:
            try:
                await asyncio.wait_for(self._process.wait(), 30)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        if self.view is not None:
            self.view.close()


# -- the worker process ---------------------------------------------------------------------


def _send(out: BinaryIO, message: dict[str, Any]) -> None:
    frame = encode_trusted(message)
    out.write(_LEN.pack(len(frame)) + frame)
    out.flush()


def _receive(src: BinaryIO) -> bytes | None:
    head = src.read(_LEN.size)
    if len(head) < _LEN.size:
        return None
    (length,) = _LEN.unpack(head)
    if length == 0:
        return None
    body = src.read(length)
    if len(body) < length:
        return None
    return body


def serve(directory: str, org: str, fsync: bool, link: socket.socket) -> None:
    """The worker process: commit each delivered block, report each commit."""
    verifier = BatchVerifier()
    src = link.makefile("rb")
    out = link.makefile("wb")
    try:
        peer = open_peer(load_config(directory), org, ContractRegistry(), verifier, fsync=fsync)
    except Exception as exc:
        _send(out, {"error": f"cannot open the peer: {exc}"})
        raise
    try:
        _send(out, {"ready": peer.blocks.height()})
        while (frame := _receive(src)) is not None:
            raw, keys, canonical = decode(frame, canonical=False)
            for key in keys:
                peer.memo.add_key(key)
            remember_canonical(canonical)
            try:
                validated = peer.commit_block(decode_block(raw))
            except ChainVerificationError as exc:
                peer.rejected_blocks += 1
                _send(out, {"block": exc.block, "rejected": str(exc), "checked": verifier.checked})
                continue
            _send(
                out,
                {
                    "block": validated.block.number,
                    "codes": [[t.tx_id, int(t.code)] for t in validated.txs],
                    "events": [
                        [tx_id, e.name, e.payload] for tx_id, evs in validated.events for e in evs
                    ],
                    "gov": peer.validator.touches_governance(validated),
                    "checked": verifier.checked,
                    "cpu_ms": int(time.process_time() * 1000),
                },
            )
    except Exception as exc:
        with contextlib.suppress(OSError):
            _send(out, {"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        peer.close()
        verifier.close()
        src.close()
        out.close()
        link.close()


if __name__ == "__main__":  # started by PeerWorker.start: DIR ORG fsync|no-fsync FD
    logging.basicConfig(level=logging.WARNING)
    serve(
        sys.argv[1],
        sys.argv[2],
        sys.argv[3] == "fsync",
        socket.socket(fileno=int(sys.argv[4])),
    )
