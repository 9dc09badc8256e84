"""Batched endorsement: one signed request carries many proposals, one reply many endorsements.

Between nodes, per-request HTTP/JSON cost dominated endorsement (docs/benchmarks.md). Here a
gateway's proposals for one organisation are coalesced (:class:`BatchingEndorser`) into one
canonical-CBOR request, sent over a byte transport (NATS request/reply in
:mod:`careledger.node.endorse_nats`, or any ``send`` callable), and the endorsing node answers
them all in one reply (:class:`BatchEndorsing`).

The request is signed by the requesting node's member identity over its body, which carries a
random batch id and the time it was sent. The endorsing side refuses, **per proposal and with a
reason**, everything it would not endorse one at a time (a forged creator signature, a proposal
already committed, a contract error) plus what only batches can get wrong:

* malformed body, bad requester signature, requester not a current member: every proposal;
* more than :data:`MAX_BATCH_PROPOSALS` proposals or :data:`MAX_BATCH_BYTES` bytes: every one;
* a batch id seen in the last :data:`REPLAY_WINDOW_SECONDS`, or a batch sent outside that
  window (so an old batch cannot outlive the memory of ids): every proposal ("replayed");
* a proposal twice in one batch: the second.

A proposal sent again in a *new* batch (a gateway asking again after another endorser failed)
is endorsed again, as over HTTP: harmless, since a transaction id commits at most once.

A refusal of one proposal never affects another in the same batch. Nothing here weakens block
validation: endorsements are still checked by every peer when the block commits.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from careledger.crypto import encoding
from careledger.crypto.keys import verify
from careledger.errors import (
    CareLedgerError,
    ContractError,
    CryptoError,
    EncodingError,
    EndorsementError,
    EndorserUnavailable,
    InvalidInput,
    MembershipError,
    UnknownContract,
)
from careledger.identity.msp import LocalIdentity, parse_cert
from careledger.ledger.transaction import MAX_PROPOSAL_BYTES, Endorsement, tx_id_of
from careledger.node.peer import Peer

#: Most proposals one batch may carry.
MAX_BATCH_PROPOSALS = 512
#: Largest encoded request, and the reply budget (NATS servers of ``network up`` allow 8 MB).
MAX_BATCH_BYTES = 4 * 1024 * 1024
#: How long batch ids are remembered, and how far a batch's send time may be from the
#: endorser's clock.
REPLAY_WINDOW_SECONDS = 120.0
#: The refusal kind of a proposal left out because the reply would be over budget: the
#: requester sends it again on its own (it was not endorsed).
OVER_BUDGET = "OverBudget"


class _Wire(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class SignedProposal(_Wire, frozen=True):
    proposal: bytes
    signature: bytes


class BatchBody(_Wire, frozen=True):
    batch_id: bytes
    sent: int  # milliseconds since the epoch
    requester: bytes  # the requesting node's member identity (certificate)
    items: list[SignedProposal]


class BatchRequest(_Wire, frozen=True):
    body: bytes  # canonical CBOR of a BatchBody
    signature: bytes  # by the requester, over ``body``


class Outcome(_Wire, frozen=True):
    """One proposal's answer: an endorsement, or a refusal (``kind``: an error class name)."""

    response: bytes | None = None
    endorser: bytes | None = None
    signature: bytes | None = None
    kind: str | None = None
    error: str | None = None


class BatchReply(_Wire, frozen=True):
    items: list[Outcome]
    refused: str | None = None  # the whole request could not be read (malformed)


def _plain(value: msgspec.Struct) -> Any:
    return msgspec.to_builtins(value, builtin_types=(bytes,))


def encode_request(identity: LocalIdentity, items: list[SignedProposal]) -> bytes:
    body = encoding.encode_trusted(
        _plain(
            BatchBody(
                batch_id=os.urandom(16),
                sent=int(time.time() * 1000),
                requester=identity.identity,
                items=items,
            )
        )
    )
    return encoding.encode_trusted({"body": body, "signature": identity.sign(body)})


def encode_reply(reply: BatchReply) -> bytes:
    return encoding.encode_trusted(_plain(reply))


def _convert(raw: bytes, kind: type[Any], what: str) -> Any:
    try:
        return msgspec.convert(encoding.decode(raw, canonical=False), kind, strict=True)
    except msgspec.ValidationError as exc:
        raise EncodingError(f"{what}: {exc}") from exc


def decode_reply(raw: bytes) -> BatchReply:
    reply: BatchReply = _convert(raw, BatchReply, "batch reply")
    return reply


def refusal(exc: BaseException) -> Outcome:
    return Outcome(kind=type(exc).__name__, error=str(exc))


class _Recent:
    """Keys remembered for ``window`` seconds, oldest forgotten first."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: dict[bytes, float] = {}
        self._order: collections.deque[tuple[float, bytes]] = collections.deque()

    def __contains__(self, key: bytes) -> bool:
        self._expire()
        return key in self._seen

    def add(self, key: bytes) -> None:
        now = time.monotonic()
        self._seen[key] = now
        self._order.append((now, key))

    def _expire(self) -> None:
        limit = time.monotonic() - self.window
        order, seen = self._order, self._seen
        while order and order[0][0] < limit:
            at, key = order.popleft()
            if seen.get(key) == at:
                del seen[key]


class BatchEndorsing:
    """The endorsing side: a peer answering batch requests (transport-independent)."""

    def __init__(self, peer: Peer, *, window: float = REPLAY_WINDOW_SECONDS) -> None:
        self.peer = peer
        self.window = window
        self._batches = _Recent(window)

    def handle(self, raw: bytes) -> bytes:
        """Answer one encoded request with one encoded reply (never raises)."""
        return encode_reply(self.answer(raw))

    def answer(self, raw: bytes) -> BatchReply:
        if len(raw) > MAX_BATCH_BYTES:
            return BatchReply(
                [], f"batch of {len(raw)} bytes is over the limit of {MAX_BATCH_BYTES}"
            )
        try:
            request: BatchRequest = _convert(raw, BatchRequest, "batch request")
            body: BatchBody = _convert(request.body, BatchBody, "batch body")
        except CareLedgerError as exc:
            return BatchReply([], f"malformed batch: {exc}")
        whole = self._check_batch(request, body)
        if whole is not None:
            return BatchReply([whole] * len(body.items))
        out: list[Outcome] = []
        in_batch: set[str] = set()
        budget = MAX_BATCH_BYTES - 1024
        for item in body.items:
            if budget <= 0:
                out.append(Outcome(kind=OVER_BUDGET, error="the reply is full: send it again"))
                continue
            outcome = self._one(item, in_batch)
            budget -= len(outcome.response or b"") + len(outcome.endorser or b"") + 128
            out.append(outcome)
        return BatchReply(out)

    def _check_batch(self, request: BatchRequest, body: BatchBody) -> Outcome | None:
        """A refusal for every proposal of the batch, or None."""
        if len(body.items) > MAX_BATCH_PROPOSALS:
            return refusal(
                InvalidInput(
                    f"batch of {len(body.items)} proposals is over the limit of "
                    f"{MAX_BATCH_PROPOSALS}"
                )
            )
        try:
            requester = self.peer.validator.membership().validate(body.requester)
        except MembershipError as exc:
            return refusal(MembershipError(f"batch requester is not a current member: {exc}"))
        if not verify(requester.public_key, request.body, request.signature):
            return refusal(CryptoError("the batch signature does not verify"))
        skew = abs(time.time() * 1000 - body.sent) / 1000
        if body.batch_id in self._batches or skew > self.window:
            return refusal(InvalidInput("replayed batch (batch id seen, or sent too long ago)"))
        self._batches.add(body.batch_id)
        return None

    def _one(self, item: SignedProposal, in_batch: set[str]) -> Outcome:
        if len(item.proposal) > MAX_PROPOSAL_BYTES:
            return refusal(InvalidInput(f"proposal over {MAX_PROPOSAL_BYTES} bytes"))
        tx_id = tx_id_of(item.proposal)
        if tx_id in in_batch:
            return refusal(InvalidInput(f"proposal {tx_id} appears twice in the batch"))
        in_batch.add(tx_id)
        try:
            response, endorsement = self.peer.endorse(item.proposal, item.signature)
        except CareLedgerError as exc:
            return refusal(exc)
        return Outcome(
            response=response, endorser=endorsement.endorser, signature=endorsement.signature
        )


_KINDS: dict[str, type[CareLedgerError]] = {
    cls.__name__: cls
    for cls in (
        InvalidInput,
        EncodingError,
        CryptoError,
        MembershipError,
        ContractError,
        UnknownContract,
        EndorsementError,
        EndorserUnavailable,
    )
}


def outcome_error(org: str, outcome: Outcome) -> CareLedgerError:
    """The error a refused proposal is raised as (its class when known, else ContractError:
    contract-defined errors such as the PHI guard's are refusals of the contract)."""
    cls = _KINDS.get(outcome.kind or "", ContractError)
    return cls(f"{org}: {outcome.error}")


Send = Callable[[bytes], Awaitable[bytes]]

#: Seconds after which requests still unanswered no longer hold proposals back: one more
#: request goes out (a node killed while answering leaves its requests unanswered until the
#: transport's timeout, and proposals queued behind them would wait as long).
STALLED_SECONDS = 1.0


class NoEndorser(Exception):
    """Raised by a ``send`` that knows nobody answers for the organisation now (NATS: no
    responders). Requests still in flight to it will never be answered: they fail at once."""


class BatchingEndorser:
    """An :class:`~careledger.node.gateway.Endorser` for another organisation that coalesces
    concurrent proposals into batch requests.

    No timer: a proposal is sent at once when fewer than ``max_inflight`` requests are out;
    otherwise it waits for the next one, with everything queued meanwhile. Under load batches
    grow by themselves; alone a proposal pays no waiting. ``send`` raising (the transport could
    not reach the organisation) makes every proposal of that batch :class:`EndorserUnavailable`.
    """

    def __init__(
        self,
        org: str,
        identity: LocalIdentity,
        send: Send,
        *,
        max_inflight: int = 2,
        max_batch: int = 256,
        describe: str = "",
    ) -> None:
        self.org = org
        self.identity = identity
        self.send = send
        self.max_inflight = max_inflight
        self.max_batch = min(max_batch, MAX_BATCH_PROPOSALS)
        self.describe = describe or org
        self._queue: list[tuple[SignedProposal, asyncio.Future[tuple[bytes, Endorsement]]]] = []
        self._inflight = 0
        self._tasks: dict[asyncio.Task[None], float] = {}  # in flight: task -> loop time sent
        #: Requests sent and proposals carried (read by ``careledger bench``).
        self.requests = 0
        self.proposals = 0

    async def endorse(self, proposal: bytes, signature: bytes) -> tuple[bytes, Endorsement]:
        fut: asyncio.Future[tuple[bytes, Endorsement]] = asyncio.get_running_loop().create_future()
        self._queue.append((SignedProposal(proposal, signature), fut))
        self._pump()
        if self._queue:  # behind requests in flight: look again should they stall
            asyncio.get_running_loop().call_later(STALLED_SECONDS, self._pump)
        return await fut

    def _stalled(self, now: float) -> bool:
        """Every request in flight has been out :data:`STALLED_SECONDS` or more."""
        return bool(self._tasks) and all(now - t >= STALLED_SECONDS for t in self._tasks.values())

    def _pump(self) -> None:
        now = asyncio.get_running_loop().time()
        while self._queue and (self._inflight < self.max_inflight or self._stalled(now)):
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            self._inflight += 1
            task = asyncio.create_task(self._request(batch))
            self._tasks[task] = now
            task.add_done_callback(lambda t: self._tasks.pop(t, None))

    async def _request(
        self, batch: list[tuple[SignedProposal, asyncio.Future[tuple[bytes, Endorsement]]]]
    ) -> None:
        try:
            await self._exchange(batch)
        except NoEndorser:
            # Nobody answers for the organisation: what is still in flight never will be.
            current = asyncio.current_task()
            for task in list(self._tasks):
                if task is not current:
                    task.cancel()
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(EndorserUnavailable(f"{self.describe}: no node answers"))
        except BaseException as exc:  # never leave a caller waiting
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(
                        EndorserUnavailable(f"{self.describe}: batch endorsement failed: {exc!r}")
                    )
            if not isinstance(exc, Exception):
                raise
        finally:
            self._inflight -= 1
            self._pump()

    async def _exchange(
        self, batch: list[tuple[SignedProposal, asyncio.Future[tuple[bytes, Endorsement]]]]
    ) -> None:
        self.requests += 1
        self.proposals += len(batch)
        raw = await self.send(encode_request(self.identity, [item for item, _ in batch]))
        try:
            reply = decode_reply(raw)
        except CareLedgerError as exc:
            raise EndorsementError(f"{self.describe} sent a malformed batch reply") from exc
        if reply.refused is not None:
            raise EndorsementError(f"{self.describe} refused the batch: {reply.refused}")
        if len(reply.items) != len(batch):
            raise EndorsementError(f"{self.describe} answered {len(reply.items)} of {len(batch)}")
        resend: list[tuple[SignedProposal, asyncio.Future[tuple[bytes, Endorsement]]]] = []
        for (item, fut), outcome in zip(batch, reply.items, strict=True):
            if fut.done():
                continue
            if outcome.kind == OVER_BUDGET:
                resend.append((item, fut))
            elif outcome.kind is not None:
                fut.set_exception(outcome_error(self.org, outcome))
            else:
                try:
                    fut.set_result(self._endorsement(outcome))
                except EndorsementError as exc:
                    fut.set_exception(exc)
        if resend:  # at the front, so they are not overtaken again
            self._queue[:0] = resend

    def _endorsement(self, outcome: Outcome) -> tuple[bytes, Endorsement]:
        response, endorser, signature = outcome.response, outcome.endorser, outcome.signature
        if response is None or endorser is None or signature is None:
            raise EndorsementError(f"{self.describe} sent an incomplete endorsement")
        try:
            cert, _, _ = parse_cert(endorser)
        except CareLedgerError as exc:
            raise EndorsementError(f"{self.describe} sent a malformed endorser") from exc
        # The block validator re-checks all of this; checking here names the culprit early.
        if cert.org != self.org or not verify(cert.public_key, response, signature):
            raise EndorsementError(f"{self.describe} sent an endorsement not signed by {self.org}")
        return response, Endorsement(endorser, signature)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for _, fut in self._queue:
            if not fut.done():
                fut.set_exception(EndorserUnavailable(f"{self.describe}: the endorser closed"))
        self._queue.clear()
