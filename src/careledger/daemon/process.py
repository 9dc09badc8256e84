"""One organisation's node as a process: peer, gateway, ordering client and the HTTP API.

``careledger node start --config org1.toml`` calls :func:`run_node`, which runs a
:class:`NodeProcess` until SIGTERM or SIGINT, then stops it cleanly: event streams end, the API
stops accepting requests, ordering is closed and the peer closes its stores. Tests run several
:class:`NodeProcess` objects in one event loop, optionally sharing one in-memory orderer.

Ordering backends (``[ordering] backend``):

* ``jetstream``: the consortium's NATS JetStream streams (:mod:`careledger.ordering.jetstream`,
  reached as :mod:`careledger.daemon.ordering_setup` says);
  with ``replica = true`` the node also runs its organisation's orderer replica, signing blocks
  as ``orderer0``.
* ``embedded-solo``: a solo orderer inside this node. Other nodes cannot reach it, so it is for a
  single-node network (tests, demos) only.

FHIR (``[fhir] enabled = true``): the node also serves the organisation's FHIR R4 API at
``/fhir`` (:func:`open_fhir`): its encrypted store, a :class:`~careledger.longitudinal.ledger.
ProviderLedger` on the node's gateway as listener and access policy (with its durable outbox),
and :class:`FhirAuth` in front, which makes the node's signed-request authentication the FHIR
API's ``requester``. The node adds (:mod:`careledger.longitudinal.routes`) patient enrolment,
``POST /fhir/Patient/{id}/$enrol`` (own users only), and ``$everything``: the holder half for
other organisations, and the longitudinal record for own users, fetching each other
organisation's part from its ``[peers]`` URL + ``/fhir`` with requests signed by this node's
member identity.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from careledger.aio import stop_task
from careledger.api.app import NodeApp, create_app
from careledger.api.auth import IDENTITY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, check_request
from careledger.api.client import RemoteEndorser
from careledger.api.server import ApiServer
from careledger.api.service import NodeService
from careledger.contracts.registry import ContractRegistry, default_registry
from careledger.credentials.health_context import accept_health_context_url
from careledger.crypto.keyfiles import secret_file
from careledger.crypto.keys import BatchVerifier
from careledger.daemon.config import (
    FhirSettings,
    NodeConfig,
    StateSettings,
    load_node_config,
)
from careledger.daemon.endorse_setup import NatsEndorsement, open_nats_endorsement
from careledger.daemon.incentives_side import IncentivesSide, open_incentives
from careledger.daemon.ordering_setup import client_tls, open_ordering, start_replica
from careledger.daemon.payer_side import PayerSide, open_payer
from careledger.daemon.ui import node_ui_context
from careledger.errors import (
    AccessDenied,
    CareLedgerError,
    NotAuthenticated,
    StorageError,
)
from careledger.fhir import api as fhir_api
from careledger.fhir.service import FhirService
from careledger.fhir.store.keyring import MasterKeyRing
from careledger.fhir.store.sqlite import SQLiteResourceStore
from careledger.httpguard import read_body, replaying
from careledger.identity.msp import Membership, Role
from careledger.incentives.routes import add_incentive_routes
from careledger.ledger.blockstore import BlockStore
from careledger.ledger.state.base import StateStore
from careledger.ledger.state.sqlite import SQLiteStateStore
from careledger.longitudinal.everything import LongitudinalRecord
from careledger.longitudinal.ledger import ProviderLedger
from careledger.longitudinal.routes import add_enrol_route, holder_endpoints
from careledger.node.consortium import load_config
from careledger.node.gateway import Endorser, Gateway, LocalEndorser
from careledger.node.peer import Peer
from careledger.ordering.base import OrderingService
from careledger.web import UiContext, mount_ui

log = logging.getLogger("careledger.node")

#: Seconds a node waits for its peer to commit the genesis block before serving.
GENESIS_TIMEOUT = 30.0


def open_state(settings: StateSettings, data_dir: Path) -> StateStore:
    if settings.backend == "postgres":
        from careledger.ledger.state.postgres import PostgresStateStore

        return PostgresStateStore(settings.dsn, settings.schema)
    return SQLiteStateStore(data_dir / "state.db")


# --- FHIR at /fhir ------------------------------------------------------------------------------

#: The ASGI scope key :class:`FhirAuth` sets: the requesting organisation, or None (own users).
REQUESTER_KEY = "careledger.fhir.requester"
_SIGNED_HEADERS = tuple(
    h.lower().encode() for h in (IDENTITY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
)


def fhir_requester(request: Request) -> str | None:
    """The FHIR API's ``requester``: what :class:`FhirAuth` established for this request."""
    value = request.scope.get(REQUESTER_KEY)
    return value if isinstance(value, str) else None


_FHIR_USER_ROLES = (Role.CLIENT, Role.ADMIN)


def _read_only(method: str, path: str) -> bool:
    return method in ("GET", "HEAD") or (method == "POST" and path.rstrip("/").endswith("/_search"))


class FhirAuth:
    """ASGI middleware in front of the FHIR API mounted in the node.

    A request signed like the node API's signed requests (docs/api.md: the three
    ``X-CareLedger-*`` headers over method, target, timestamp and body hash) by a current member
    of *another* organisation is that organisation: the access policy (consent) decides what it
    is served, and it may only read and search (anything else is 403). Signed by a client or
    admin member of the node's own organisation: the organisation's own user (its peer and
    orderer members are refused, 403). Unsigned: the organisation's own user
    when ``allow_unsigned`` (a trusted front end does the authentication), else 401. Errors are
    FHIR OperationOutcomes."""

    def __init__(
        self,
        app: ASGIApp,
        org: str,
        membership: Callable[[], Membership],
        *,
        allow_unsigned: bool = False,
        max_body_bytes: int = fhir_api.DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.org = org
        self.membership = membership
        self.allow_unsigned = allow_unsigned
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive, self.max_body_bytes)
            scope[REQUESTER_KEY] = self._requester(scope, body)
        except CareLedgerError as exc:
            await fhir_api.error_response(exc)(scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)

    def _requester(self, scope: Scope, body: bytes) -> str | None:
        method = str(scope["method"])
        if not any(name in _SIGNED_HEADERS for name, _value in scope.get("headers", [])):
            if self.allow_unsigned:
                return None
            raise NotAuthenticated(
                "the FHIR API needs a signed request (X-CareLedger-Identity, -Timestamp, "
                "-Signature) from a consortium member"
            )
        raw_path: bytes = scope.get("raw_path") or str(scope["path"]).encode()
        query: bytes = scope.get("query_string", b"")
        target = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
        cert = check_request(self.membership(), method, target, Headers(scope=scope), body)
        capabilities = method == "GET" and str(scope["path"]).endswith("/metadata")
        if cert.org == self.org:
            if cert.role not in _FHIR_USER_ROLES and not capabilities:
                # Least privilege: a peer's or orderer's key lives on a server, not with a user;
                # stolen from there it must not open the organisation's patient records.
                raise AccessDenied(
                    f"{cert.org}.{cert.name} is a {cert.role} member: the organisation's FHIR "
                    "users sign as client or admin members"
                )
            return None
        if not _read_only(method, str(scope["path"])):
            raise AccessDenied(f"{cert.org} may only read and search this organisation's FHIR data")
        return cert.org


class FhirBase:
    """ASGI middleware: ``[base]`` itself (``/fhir``, where FHIR clients POST Bundles) reaches
    the FHIR API as ``/fhir/``. Without it the router answered 307 to ``/fhir/``, and a signed
    request followed there no longer matched its signature (it covers the path sent). The raw
    path is kept, so :class:`FhirAuth` checks the signature over what the client signed."""

    def __init__(self, app: ASGIApp, prefix: str = "/fhir") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") == self.prefix:
            scope = {**scope, "path": self.prefix + "/"}
        await self.app(scope, receive, send)


@dataclass
class FhirNode:
    """The FHIR half of a node: store, service, ledger side and the app mounted at ``/fhir``."""

    service: FhirService
    ledger: ProviderLedger
    app: ASGIApp
    client: httpx.AsyncClient | None = None  # to the other organisations' /fhir ($everything)
    keys: MasterKeyRing | None = None  # the store's master keys, reloaded on SIGHUP

    async def close(self, *, flush_timeout: float = 5.0) -> None:
        """Try to submit what is pending (bounded), then stop; the rest stays in the outbox."""
        if self.client is not None:
            await self.client.aclose()
        try:
            await asyncio.wait_for(self.ledger.flush(), flush_timeout)
        except Exception as exc:  # kept in the outbox, submitted at the next start
            log.warning("FHIR ledger outbox not fully flushed at stop: %r", exc)
        await self.ledger.close()
        self.service.store.close()


def holder_secret(path: Path) -> bytes:
    """The locator salt secret in ``path`` (base64url), created (32 random bytes, mode 0600) on
    first use. It must not change: the salts of everything indexed derive from it."""
    return secret_file(path, min_bytes=16)


def fhir_paths(settings: FhirSettings, data_dir: Path) -> tuple[Path, Path, Path]:
    """(store, outbox, secret file) with their defaults under ``data_dir``."""
    store = Path(settings.store) if settings.store else data_dir / "fhir.sqlite"
    outbox = (
        Path(settings.outbox)
        if settings.outbox
        else store.with_name(store.name.removesuffix(".sqlite") + ".ledger.sqlite")
    )
    secret = Path(settings.secret_file) if settings.secret_file else data_dir / "fhir-holder.secret"
    return store, outbox, secret


def open_fhir(
    settings: FhirSettings,
    data_dir: Path,
    gateway: Gateway,
    membership: Callable[[], Membership],
    *,
    base_url: str,
    max_body_bytes: int,
    peers: Mapping[str, str] | None = None,
    verify: ssl.SSLContext | bool = True,
) -> FhirNode:
    """The FHIR API of ``[fhir]`` on ``gateway`` (call on the node's event loop).

    ``peers`` (org -> node API base URL): where ``$everything`` fetches other organisations'
    parts (``<url>/fhir``), signing as the gateway's member identity."""
    store_path, outbox_path, secret_path = fhir_paths(settings, data_dir)
    key = MasterKeyRing.load(settings.master_key_file, settings.master_key_env)
    secret = holder_secret(secret_path)
    store = SQLiteResourceStore(store_path, key)
    try:
        service = FhirService(store, base_url=settings.base_url or base_url)
        ledger = ProviderLedger(gateway, secret, outbox=outbox_path, start=False)
    except BaseException:
        store.close()
        raise
    service.listener, service.policy = ledger, ledger
    try:
        ledger.reconcile(service)  # what a crash kept from the outbox, before any new write
    except BaseException:
        ledger.outbox.close()
        store.close()
        raise
    ledger.flusher.start()
    client, holders = holder_endpoints(peers or {}, gateway.identity, verify=verify)
    record = LongitudinalRecord(service, ledger, holders)
    app = fhir_api.create_app(
        service, max_body_bytes=max_body_bytes, requester=fhir_requester, everything=record
    )
    assert isinstance(app.app, FastAPI)
    add_enrol_route(app.app, service, ledger, fhir_requester)
    guarded = FhirAuth(
        app,
        gateway.identity.org,
        membership,
        allow_unsigned=settings.allow_unsigned,
        max_body_bytes=max_body_bytes,
    )
    return FhirNode(service, ledger, guarded, client, key)


class NodeProcess:
    """Start with ``await node.start()``; ``await node.stop()`` always, even after a failure."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        ordering: OrderingService | None = None,
        registry: ContractRegistry | None = None,
        commit_timeout: float = 30.0,
    ) -> None:
        self.config = config
        self.registry = registry or default_registry()
        self.commit_timeout = commit_timeout
        self._shared_ordering = ordering
        self.ordering: OrderingService | None = ordering
        self.peer: Peer | None = None
        self.service: NodeService | None = None
        self.server: ApiServer | None = None
        self._verifier: BatchVerifier | None = None
        self._remotes: list[RemoteEndorser] = []
        self._nats_endorsement: NatsEndorsement | None = None
        self._peer_task: asyncio.Task[None] | None = None
        self._replica: Any = None
        self.fhir: FhirNode | None = None
        self.ui: UiContext | None = None
        self.incentives: IncentivesSide | None = None
        self.app: NodeApp | None = None  # what the API server serves (routes, mounts)
        self.payer: PayerSide | None = None

    @property
    def url(self) -> str:
        assert self.server is not None, "start() the node first"
        return self.server.url

    async def start(self) -> None:
        cfg = self.config
        consortium = load_config(cfg.consortium)
        identity = consortium.member(cfg.org, cfg.member)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self._verifier = BatchVerifier()
        blocks = BlockStore(cfg.data_dir / "blocks.log")
        try:
            state = open_state(cfg.state, cfg.data_dir)
        except BaseException:
            blocks.close()
            raise
        self.peer = peer = Peer(identity, state, blocks, self.registry, self._verifier)
        genesis = consortium.genesis().header.hash()
        if blocks.height() and blocks.get(0).header.hash() != genesis:
            raise StorageError(f"{cfg.data_dir} holds a chain of another consortium")
        tls = client_tls(cfg.tls)
        verify = tls or True
        if self.ordering is None:
            self.ordering = await open_ordering(cfg.ordering, consortium, peer, tls)
        endorsers: dict[str, Endorser] = {cfg.org: LocalEndorser(peer)}
        for org, url in cfg.peers.items():
            remote = RemoteEndorser(org, url, verify=verify)
            self._remotes.append(remote)
            endorsers[org] = remote
        # Batched endorsement over NATS (careledger.daemon.endorse_setup) replaces HTTP when set.
        self._nats_endorsement = await open_nats_endorsement(cfg, self.ordering, peer, identity)
        endorsers.update(self._nats_endorsement.endorsers)
        gateway = Gateway(
            identity, peer, endorsers, self.ordering, commit_timeout=self.commit_timeout
        )
        self.service = NodeService(peer, gateway)
        self._peer_task = asyncio.create_task(peer.run(self.ordering))
        jetstream = self._shared_ordering is None and cfg.ordering.backend == "jetstream"
        if jetstream and cfg.ordering.replica:  # after the peer: it judges blocks through it
            self._replica = await start_replica(cfg.ordering, consortium, cfg.org, peer, tls)
        await self._wait_genesis()
        accept_health_context_url(cfg.credentials.health_context_url)  # [credentials] setting
        app = create_app(
            self.service, max_body_bytes=cfg.http.max_body_bytes, did_web_host=cfg.did_web_host
        )
        add_incentive_routes(app, self.service)  # docs/incentives.md
        assert isinstance(app.app, FastAPI)
        self.incentives = open_incentives(
            app.app, cfg.incentives, gateway, identity, cfg.data_dir, verify=verify
        )
        scheme = "https" if cfg.tls.serves_https else "http"
        self.payer = open_payer(  # docs/payer-pas.md, docs/payer-claims.md
            app, gateway, cfg.data_dir, verify=verify, peers=cfg.peers
        )
        if cfg.fhir.enabled:
            self.fhir = open_fhir(
                cfg.fhir,
                cfg.data_dir,
                gateway,
                self.service.membership,
                base_url=f"{scheme}://{cfg.http.host}:{cfg.http.port}/fhir",
                max_body_bytes=cfg.http.max_body_bytes,
                peers=cfg.peers,
                verify=verify,
            )
            assert isinstance(app.app, FastAPI)
            app.app.mount("/fhir", self.fhir.app)
            app.app.add_middleware(FhirBase)
        self.ui = node_ui_context(self)  # the web UI at /ui (careledger.web)
        mount_ui(app.app, self.ui)
        self.app = app
        self.server = ApiServer(
            app,
            cfg.http.host,
            cfg.http.port,
            tls=cfg.tls.server_files(),
            require_client_cert=cfg.tls.require_client_cert,
        )
        await self.server.start()

    def reload_keys(self) -> None:
        """Re-read the FHIR master keys (SIGHUP): the rotation of docs/security.md, without a
        restart. A key file that does not load leaves the keys in use, and is logged."""
        if self.fhir is None or self.fhir.keys is None:
            return
        try:
            ring = self.fhir.keys.reload()
        except CareLedgerError as exc:
            log.error("FHIR master keys not reloaded, the previous ones stay in use: %s", exc)
            return
        log.info(
            "FHIR master keys reloaded: current %s, %d in the ring", ring.key_id, len(ring.key_ids)
        )

    async def _wait_genesis(self) -> None:
        assert self.peer is not None
        assert self._peer_task is not None
        async with asyncio.timeout(GENESIS_TIMEOUT):
            while self.peer.height() < 1:
                if self._peer_task.done():
                    self._peer_task.result()
                    raise StorageError("ordering ended before delivering the genesis block")
                await asyncio.sleep(0.01)

    async def wait(self) -> None:
        """Until the API server stops or the peer stops committing (re-raising its error)."""
        assert self.server is not None
        assert self._peer_task is not None
        server = asyncio.ensure_future(self.server.wait())
        try:
            await asyncio.wait({server, self._peer_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            server.cancel()
        if self._peer_task.done():
            self._peer_task.result()

    async def stop(self) -> None:
        if self.service is not None:
            self.service.close()
        if self.server is not None:
            await self.server.stop()
        if self.fhir is not None:
            await self.fhir.close()
        if self.incentives is not None:
            await self.incentives.close()
        if self._nats_endorsement is not None:
            await self._nats_endorsement.close()
        if self.payer is not None:
            await self.payer.close()
        if self.ordering is not None and self._shared_ordering is None:
            publisher = getattr(self.ordering, "publisher", None)
            if publisher is not None and publisher.messages:  # how well envelopes were batched
                sent = (publisher.envelopes, publisher.messages)
                log.info("tx stream: %d envelopes in %d messages", *sent)
            await self.ordering.close()
        if self._peer_task is not None:
            if self._shared_ordering is None:  # closed above: the deliver loop ends by itself
                await asyncio.wait({self._peer_task}, timeout=10)
            error = await stop_task(self._peer_task)
            if error is not None:
                log.error("the peer stopped with an error", exc_info=error)
        if self._replica is not None:
            await self._replica.close()
        for remote in self._remotes:
            await remote.aclose()
        if self.peer is not None:
            self.peer.close()
        if self._verifier is not None:
            self._verifier.close()


async def run_node(config_path: str | Path, *, ready: Any = None) -> None:
    """Run the node a config file describes until SIGTERM/SIGINT; ``ready(url)`` once serving;
    SIGHUP reloads the FHIR master keys."""
    node = NodeProcess(load_node_config(config_path))
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, node.reload_keys)
    try:
        await node.start()
        if ready is not None:
            ready(node.url)
        waiting = asyncio.ensure_future(node.wait())
        stop = asyncio.ensure_future(stopping.wait())
        done, _ = await asyncio.wait({waiting, stop}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiting, stop):
            task.cancel()
        if waiting in done:
            waiting.result()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await node.stop()
