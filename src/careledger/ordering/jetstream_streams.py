"""JetStream plumbing for the ``jetstream`` ordering backend: settings, stream definitions,
bounded publishing and a reader that follows a stream across server failures.

Not for ordering logic: what goes into a block and which stream message is block N lives in
:mod:`careledger.ordering.jetstream`.

Every call to the server is bounded by a timeout: with nats-py 2.16 a server error on a publish
can leave the reply future unresolved (nats-io/nats.py#985), and a cluster without quorum does not
answer at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from careledger.aio import within
from careledger.errors import OrderingError

log = logging.getLogger(__name__)

TX_LAST_HEADER = "CareLedger-Tx-Last"
"""Block message header: the last tx-stream sequence the block covers (not signed; orderers
only use it to resume cutting; peers ignore it)."""
EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence"
MSG_ID = "Nats-Msg-Id"

ERR_STREAM_NAME_IN_USE = 10058
"""Stream exists with a different configuration."""
ERR_NO_SUITABLE_PEERS = 10005
"""No suitable peers for placement: a cluster that just started is still forming."""
ERR_WRONG_LAST_SEQUENCE = 10071
"""``Nats-Expected-Last-Sequence`` did not match: another append won the race."""
ERR_DUPLICATE_IN_PROCESS = 10158
"""A message with the same ``Nats-Msg-Id`` is being stored right now: retry shortly."""

# Errors that mean "the cluster did not answer / cannot answer now": retry or report unavailable.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    asyncio.TimeoutError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
)

# Anything the client raises: for best-effort cleanup, where a failure only means "gone already".
ANY_NATS_ERROR: tuple[type[BaseException], ...] = (TimeoutError, nats.errors.Error)

# A pull whose consumer or server is gone: recreate the consumer.
_CONSUMER_GONE: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, nats.js.errors.NotFoundError)

_CHANNEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


@dataclass(frozen=True, slots=True)
class JetStreamSettings:
    """Where and how the ``jetstream`` backend talks to NATS.

    ``channel`` names the two streams (``<CHANNEL>_TX``, ``<CHANNEL>_BLOCKS``) and their subjects,
    so one NATS cluster can carry several ledgers (and tests can isolate themselves).
    """

    servers: list[str]
    channel: str = "careledger"
    replicas: int = 3
    publish_timeout: float = 2.0
    """Bound on one publish or API request."""
    broadcast_timeout: float = 15.0
    """Bound on a whole ``broadcast`` including retries: a leader election takes 1-3 s on an idle
    machine; a stream leader killed under load left gaps of up to 4.4 s (docs/ordering.md)."""
    connect_timeout: float = 2.0
    duplicate_window: float = 120.0
    """Seconds during which a re-published tx id is dropped by the stream itself."""
    fetch_wait: float = 1.0
    """How long one pull request lingers on an idle stream."""
    name: str = "careledger"
    tx_batching: bool = False
    """Gateways coalesce concurrent envelopes into one tx message (:mod:`careledger.ordering.
    tx_batch`); every orderer replica must read batches. Orderers always do."""
    tx_batch_inflight: int = 1
    """Unacknowledged tx-message publishes per client before envelopes queue for the next."""
    extra: dict[str, Any] = field(default_factory=dict)
    """More keyword arguments for :func:`nats.connect` (TLS, credentials)."""

    def __post_init__(self) -> None:
        if not _CHANNEL.match(self.channel):
            raise ValueError(f"channel {self.channel!r}: a letter then letters, digits or _")
        if not self.servers:
            raise ValueError("give at least one NATS server URL")

    @property
    def tx_stream(self) -> str:
        return f"{self.channel.upper()}_TX"

    @property
    def blocks_stream(self) -> str:
        return f"{self.channel.upper()}_BLOCKS"

    @property
    def tx_subject(self) -> str:
        return f"careledger.{self.channel}.tx"

    @property
    def blocks_subject(self) -> str:
        return f"careledger.{self.channel}.blocks"


FIRST_CONNECT_RETRIES = 2
"""Retries per server for the first connection (3 tries each, each bounded by
``connect_timeout``); once connected, a client reconnects without limit."""


class _TlsRefused(Exception):
    """Raised from the error callback to end the first connection on a TLS failure."""


def denied_subjects(settings: JetStreamSettings, *, orderer: bool) -> list[str]:
    """What a consortium member's NATS user may not publish (``NatsCluster(users=...)``): the
    JetStream calls that delete, purge or reconfigure the ledger's two streams or delete one of
    their messages, and — unless it runs an orderer replica — blocks. Forged blocks could not
    enter the chain anyway (peers verify them); this keeps them out of the stream."""
    denied = [
        f"$JS.API.STREAM.{call}.{stream}"
        for stream in (settings.tx_stream, settings.blocks_stream)
        for call in ("DELETE", "PURGE", "UPDATE", "MSG.DELETE")
    ]
    return denied if orderer else [*denied, settings.blocks_subject]


async def connect(settings: JetStreamSettings, role: str) -> NATS:
    """A client connection that keeps reconnecting (any server of the cluster) until closed.

    The first connection is bounded: :class:`OrderingError` says why it failed, at once for a TLS
    failure (a server certificate the client's context does not trust, no client certificate
    for servers that require one: retrying cannot help), else after :data:`FIRST_CONNECT_RETRIES`
    retries of every server."""
    connecting = True
    last_error: BaseException | None = None  # of the first connection

    async def on_error(exc: Exception) -> None:
        nonlocal last_error
        log.debug("nats %s: %r", role, exc)
        if connecting:
            last_error = exc
            if isinstance(exc, ssl.SSLError):
                # Raising here also ends nats-py's connect before it waits forever for the
                # transport whose handshake failed (nats-io/nats.py#718); asyncio closed it.
                raise _TlsRefused from exc

    options: dict[str, Any] = {
        "name": f"{settings.name}-{role}",
        "connect_timeout": settings.connect_timeout,
        "allow_reconnect": True,
        "max_reconnect_attempts": FIRST_CONNECT_RETRIES,
        "reconnect_time_wait": 0.2,
        "error_cb": on_error,
    }
    if "tls" in settings.extra:
        # TLS before anything else: nats-py otherwise speaks plaintext to a server that does not
        # ask for TLS, whatever the URL says (fixed upstream in nats-io/nats.py#912, not in
        # 2.16). Servers accept it with ``handshake_first`` (NatsCluster sets it).
        options["tls_handshake_first"] = True
    # A safety net, should nats-py hang anyway (a TLS handshake that times out, #718 again):
    # each try is at most a TCP connect, INFO, TLS handshake and PONG, each within connect_timeout.
    tries = (FIRST_CONNECT_RETRIES + 1) * len(settings.servers)
    bound = tries * (4 * settings.connect_timeout + 0.2) + settings.connect_timeout
    nc = NATS()
    try:
        async with asyncio.timeout(bound):
            await nc.connect(settings.servers, **options, **settings.extra)
    except _TlsRefused:
        assert last_error is not None
        raise _connect_failed(settings, last_error) from last_error
    except (TimeoutError, nats.errors.Error, OSError) as exc:
        with contextlib.suppress(*ANY_NATS_ERROR, OSError):
            await within(nc.close(), settings.connect_timeout)
        cause = last_error or exc
        raise _connect_failed(settings, cause) from cause
    # nats-py reads this option on every reconnect: from now on, never give up.
    nc.options["max_reconnect_attempts"] = -1
    connecting, last_error = False, None
    return nc


def _connect_failed(settings: JetStreamSettings, exc: BaseException) -> OrderingError:
    hint = ""
    if isinstance(exc, ssl.SSLCertVerificationError):
        hint = " (the client's TLS context does not trust the server's certificate)"
    elif isinstance(exc, ssl.SSLError) and "CERTIFICATE_REQUIRED" in str(exc):
        hint = " (the server requires a client certificate: give one in the TLS context)"
    elif isinstance(exc, ssl.SSLError) and any(
        alert in str(exc) for alert in ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN")
    ):
        hint = " (the server does not accept the client's certificate: is it from its CA?)"
    elif isinstance(exc, ssl.SSLError):
        hint = " (TLS failed: check the client's TLS context and the servers' TLS settings)"
    elif isinstance(exc, ConnectionError) and (
        "tls" in settings.extra or any(url.startswith("tls://") for url in settings.servers)
    ):
        hint = " (a server that requires a client certificate closes the connection without one)"
    return OrderingError(f"cannot connect to NATS at {', '.join(settings.servers)}: {exc!r}{hint}")


def err_code(exc: BaseException) -> int | None:
    code = getattr(exc, "err_code", None)
    return code if isinstance(code, int) else None


async def ensure_streams(js: JetStreamContext, settings: JetStreamSettings) -> None:
    """Create the tx and blocks streams if missing (idempotent; retried during elections)."""
    common: dict[str, Any] = {
        "retention": api.RetentionPolicy.LIMITS,
        "storage": api.StorageType.FILE,
        "num_replicas": settings.replicas,
        "discard": api.DiscardPolicy.NEW,
        "allow_direct": True,
        "deny_delete": True,
        "deny_purge": True,
    }
    configs = [
        api.StreamConfig(
            name=settings.tx_stream,
            subjects=[settings.tx_subject],
            duplicate_window=settings.duplicate_window,
            **common,
        ),
        api.StreamConfig(
            name=settings.blocks_stream,
            subjects=[settings.blocks_subject],
            duplicate_window=1.0,
            **common,
        ),
    ]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(settings.broadcast_timeout, 10.0)
    for config in configs:
        while True:
            try:
                await asyncio.wait_for(js.add_stream(config), settings.publish_timeout + 0.5)
                break
            except nats.js.errors.BadRequestError as exc:
                if err_code(exc) == ERR_STREAM_NAME_IN_USE:
                    log.info("stream %s exists with another configuration; using it", config.name)
                    break
                # A cluster that just started may not yet see every peer it needs for R3
                # placement, though each server already answers its health check.
                if err_code(exc) == ERR_NO_SUITABLE_PEERS and loop.time() < deadline:
                    await asyncio.sleep(0.25)
                    continue
                raise OrderingError(f"cannot create stream {config.name}: {exc}") from exc
            except TRANSIENT_ERRORS as exc:
                if loop.time() > deadline:
                    raise OrderingError(f"cannot create stream {config.name}: {exc!r}") from exc
                await asyncio.sleep(0.2)
    # A new replicated stream answers nothing until its Raft group has elected a leader;
    # requests sent before that are dropped and would each cost a full timeout.
    for config in configs:
        assert config.name is not None
        while True:
            try:
                info = await asyncio.wait_for(js.stream_info(config.name), 0.5)
                if info.cluster is None or info.cluster.leader:
                    break
            except TRANSIENT_ERRORS as exc:
                if loop.time() > deadline:
                    raise OrderingError(f"stream {config.name} has no leader: {exc!r}") from exc
            await asyncio.sleep(0.05)


async def publish(
    js: JetStreamContext,
    subject: str,
    payload: bytes,
    headers: dict[str, str],
    timeout: float,
) -> api.PubAck:
    """One JetStream publish, bounded even if the client's own timeout fails (nats.py#985)."""
    return await asyncio.wait_for(
        js.publish(subject, payload, timeout=timeout, headers=dict(headers)), timeout + 0.5
    )


def stream_seq(msg: Msg) -> int:
    return int(msg.metadata.sequence.stream)


class StreamReader:
    """Reads one stream in sequence order from ``next_seq`` on, through server failures.

    It holds an ephemeral pull consumer (no acks, R1, in memory). When that consumer stops
    answering — its server died, the connection moved — it is recreated at the next unread
    sequence, so nothing is skipped or repeated.
    """

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        subject: str,
        next_seq: int,
        *,
        timeout: float,
        batch: int = 256,
    ) -> None:
        self.js = js
        self.stream = stream
        self.subject = subject
        self.next_seq = max(1, next_seq)
        self.timeout = timeout
        self.batch = batch
        self._sub: JetStreamContext.PullSubscription | None = None
        self._idle = 0

    async def read(self, wait: float) -> list[Msg]:
        """Messages from ``next_seq`` on (possibly none after ``wait`` seconds)."""
        wait = max(wait, 0.01)
        try:
            if self._sub is None:
                self._sub = await asyncio.wait_for(self._subscribe(), self.timeout + 0.5)
            msgs = await asyncio.wait_for(
                self._sub.fetch(self.batch, timeout=wait), wait + self.timeout
            )
        except (TimeoutError, nats.errors.TimeoutError):
            self._idle += 1
            if self._idle * wait >= 3 * self.timeout:
                await self._probe()
            return []
        except _CONSUMER_GONE as exc:
            log.debug("reader %s: %r; recreating the consumer", self.stream, exc)
            await self._drop()
            await asyncio.sleep(min(wait, 0.2))
            return []
        self._idle = 0
        fresh: list[Msg] = []
        for msg in msgs:
            seq = stream_seq(msg)
            if seq < self.next_seq:
                continue  # already read (a consumer recreated at an older position)
            if seq > self.next_seq:
                log.warning("stream %s jumped from %d to %d", self.stream, self.next_seq, seq)
            fresh.append(msg)
            self.next_seq = seq + 1
        return fresh

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.next_seq,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=max(30.0, 10 * self.timeout),
            num_replicas=1,
            mem_storage=True,
        )
        return await self.js.pull_subscribe(self.subject, stream=self.stream, config=config)

    async def _probe(self) -> None:
        """After a long idle spell, check that the consumer still exists."""
        self._idle = 0
        sub = self._sub
        if sub is None:
            return
        try:
            await asyncio.wait_for(sub.consumer_info(), self.timeout)
        except ANY_NATS_ERROR as exc:
            log.debug("reader %s: consumer lost (%r); recreating", self.stream, exc)
            await self._drop()

    async def _drop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(*ANY_NATS_ERROR):
                await within(sub.unsubscribe(), self.timeout)

    async def close(self) -> None:
        await self._drop()
