"""One organisation's node configuration: the TOML file ``careledger node start`` reads.

::

    org = "Org1"                        # this node's organisation
    consortium = "../consortium"        # consortium dir: genesis.block, consortium.toml, orgs/Org1
    member = "peer0"                    # the peer identity under orgs/<org>/members/
    data_dir = "data/Org1"              # block file (and SQLite state) live here
    did_web_host = "hospital.example"   # optional: serve did:web:<host> at /.well-known/did.json

    [http]
    host = "127.0.0.1"                  # loopback only unless you mean it
    port = 7051
    max_body_bytes = 2097152

    [state]
    backend = "sqlite"                  # or "postgres"
    dsn = ""                            # postgres only: libpq connection string
    schema = "org1"                     # postgres only: schema for this peer

    [ordering]
    backend = "jetstream"               # or "embedded-solo" (single-node tests and demos)
    servers = ["nats://127.0.0.1:4222"] # jetstream only
    channel = "careledger"              # jetstream only: names the streams (<CHANNEL>_TX, _BLOCKS)
    replica = true                      # jetstream only: run this org's orderer replica here
    broadcast_timeout = 15.0            # jetstream only: seconds a submit waits for the stream
    nkey_seed = "../consortium/orgs/Org1/nats.nk"  # jetstream only: this org's NATS nkey seed
    endorse_transport = "http"          # jetstream only: "nats" batches endorsement over NATS
    tx_batching = false                 # jetstream only: several envelopes per tx-stream message

    [peers]                             # other organisations' node API base URLs, for endorsement
    Org2 = "http://127.0.0.1:7052"

    [fhir]                              # optional: serve the organisation's FHIR API at /fhir
    enabled = true
    store = "fhir.sqlite"               # default <data_dir>/fhir.sqlite
    outbox = ""                         # default <store without .sqlite>.ledger.sqlite
    master_key_env = "CARELEDGER_FHIR_MASTER_KEY"  # env var holding the base64url master key
    master_key_file = ""                # or: 0600 file of keys, current first; SIGHUP reloads
    secret_file = ""                    # holder secret; default <data_dir>/fhir-holder.secret
    base_url = ""                       # public URL of /fhir; default http://<host>:<port>/fhir
    allow_unsigned = false              # unsigned requests are the organisation's own users

    [tls]                               # optional: HTTPS, and TLS to other nodes and NATS
    cert = "tls/Org1.crt"               # this node's certificate (PEM); with key: serve HTTPS
    key = "tls/Org1.key"
    ca = "tls/ca.crt"                   # CA(s) trusted for other nodes' and NATS' certificates
    require_client_cert = false         # mutual TLS: API callers must present a cert from ca

    [credentials]                       # optional
    health_context_url = "https://careledger.dev/contexts/health/v1"  # context URL credentials name

Relative paths are relative to the file's directory. Not for consortium-wide settings
(``consortium.toml``, see :mod:`careledger.node.consortium`).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import tomli_w

from careledger.credentials.health_context import DEFAULT_URL as HEALTH_CONTEXT_URL
from careledger.credentials.health_context import validate_context_url
from careledger.errors import InvalidInput
from careledger.tls import TlsFiles

STATE_BACKENDS = ("sqlite", "postgres")
ORDERING_BACKENDS = ("jetstream", "embedded-solo")
ENDORSE_TRANSPORTS = ("http", "nats")
_ORG_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
_TOP_LEVEL = (
    "org",
    "consortium",
    "member",
    "data_dir",
    "did_web_host",
    "http",
    "state",
    "ordering",
    "peers",
    "fhir",
    "tls",
    "credentials",
    "incentives",
)
_FHIR_PATHS = ("store", "outbox", "secret_file", "master_key_file")
_TLS_PATHS = ("cert", "key", "ca")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 7051
    max_body_bytes: int = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StateSettings:
    backend: str = "sqlite"
    dsn: str = ""
    schema: str = ""


@dataclass(frozen=True, slots=True)
class OrderingSettings:
    backend: str = "jetstream"
    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    channel: str = "careledger"
    replica: bool = False
    broadcast_timeout: float = 15.0
    nkey_seed: str = ""
    """The organisation's NATS user nkey seed file (mode 0600), absolute once loaded; empty:
    connect without credentials (a TLS network is mapped from the client certificate)."""
    endorse_transport: str = "http"
    tx_batching: bool = False
    """Concurrent envelopes share one tx-stream message (every orderer replica must read
    batches: docs/ordering.md)."""


@dataclass(frozen=True, slots=True)
class FhirSettings:
    """``[fhir]``: the FHIR API the node serves at ``/fhir`` (see docs/network.md). Paths are
    absolute once loaded; empty ones take their defaults under ``data_dir``."""

    enabled: bool = False
    store: str = ""
    outbox: str = ""
    master_key_env: str = "CARELEDGER_FHIR_MASTER_KEY"
    master_key_file: str = ""
    secret_file: str = ""
    base_url: str = ""
    allow_unsigned: bool = False


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """``[tls]``: PEM files (absolute once loaded). ``cert`` + ``key``: the node serves HTTPS and
    presents them to other nodes and NATS; ``ca``: whom it trusts (see :mod:`careledger.tls`)."""

    cert: str = ""
    key: str = ""
    ca: str = ""
    require_client_cert: bool = False

    @property
    def serves_https(self) -> bool:
        return bool(self.cert)

    @classmethod
    def mutual(cls, files: TlsFiles) -> TlsSettings:
        """HTTPS with ``files`` that requires client certificates from ``files.ca``."""
        return cls(str(files.cert), str(files.key), str(files.ca), require_client_cert=True)

    def server_files(self) -> TlsFiles | None:
        """What the node's HTTPS server uses, or None (plain HTTP)."""
        if not self.serves_https:
            return None
        return TlsFiles(Path(self.cert), Path(self.key), Path(self.ca) if self.ca else None)


@dataclass(frozen=True, slots=True)
class CredentialsSettings:
    """``[credentials]``: ``health_context_url`` is the health JSON-LD context URL this
    organisation's credentials name (a URL it controls, serving the node's
    ``/contexts/health/v1``); the node's verifier maps it to the shipped file."""

    health_context_url: str = HEALTH_CONTEXT_URL


@dataclass(frozen=True, slots=True)
class IncentivesSettings:
    """``[incentives]``: ``awarder`` runs this organisation's awarder (``POST
    /v1/incentives/campaigns/{campaign}/awards``) and ``cosigner`` its auditor co-signer
    (``POST …/cosign``). Both key the evidence digests with the secret in
    ``evidence_secret_file`` (default ``<data_dir>/incentives-evidence.secret``, created 0600),
    which a sponsor shares with the auditor of its campaigns; ``auditor_url`` is the auditor's
    node, asked to co-sign awards of campaigns that name an auditor."""

    awarder: bool = False
    cosigner: bool = False
    evidence_secret_file: str = ""
    auditor_url: str = ""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    org: str
    consortium: Path
    data_dir: Path
    member: str = "peer0"
    http: HttpSettings = field(default_factory=HttpSettings)
    state: StateSettings = field(default_factory=StateSettings)
    ordering: OrderingSettings = field(default_factory=OrderingSettings)
    peers: dict[str, str] = field(default_factory=dict)
    did_web_host: str = ""
    fhir: FhirSettings = field(default_factory=FhirSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    credentials: CredentialsSettings = field(default_factory=CredentialsSettings)
    incentives: IncentivesSettings = field(default_factory=IncentivesSettings)

    def validate(self) -> NodeConfig:
        """This config, or InvalidInput naming the first bad setting."""
        if not _ORG_ID.match(self.org):
            raise InvalidInput(f"org {self.org!r}: a letter then letters, digits, - or _")
        if not 0 <= self.http.port <= 65535:
            raise InvalidInput(f"http.port {self.http.port} is not a TCP port")
        if self.http.max_body_bytes < 64 * 1024:
            raise InvalidInput("http.max_body_bytes must be at least 65536")
        if self.state.backend not in STATE_BACKENDS:
            raise InvalidInput(f"state.backend {self.state.backend!r}: one of {STATE_BACKENDS}")
        if self.state.backend == "postgres" and not (
            self.state.dsn and _SCHEMA.match(self.state.schema)
        ):
            raise InvalidInput("state.backend postgres needs state.dsn and a state.schema")
        if self.ordering.backend not in ORDERING_BACKENDS:
            raise InvalidInput(
                f"ordering.backend {self.ordering.backend!r}: one of {ORDERING_BACKENDS}"
            )
        if not 0.5 <= self.ordering.broadcast_timeout <= 300:
            raise InvalidInput(
                f"ordering.broadcast_timeout {self.ordering.broadcast_timeout}: 0.5 to 300 seconds"
            )
        if self.ordering.endorse_transport not in ENDORSE_TRANSPORTS:
            raise InvalidInput(
                f"ordering.endorse_transport {self.ordering.endorse_transport!r}: one of "
                f"{ENDORSE_TRANSPORTS}"
            )
        for org, url in self.peers.items():
            if not _ORG_ID.match(org) or _http_url(url) is None:
                raise InvalidInput(f"peers.{org} = {url!r}: an org id and an http(s) base URL")
        if self.org in self.peers:
            raise InvalidInput(f"peers lists this node's own organisation {self.org}")
        if self.did_web_host and not _is_did_web_host(self.did_web_host):
            raise InvalidInput(
                f"did_web_host {self.did_web_host!r}: a lower-case host name, optionally :port"
            )
        if not _ENV_NAME.match(self.fhir.master_key_env):
            raise InvalidInput(
                f"fhir.master_key_env {self.fhir.master_key_env!r}: an environment variable name"
            )
        if self.fhir.base_url:
            parts = _http_url(self.fhir.base_url)
            if parts is None or parts.query:
                raise InvalidInput(f"fhir.base_url {self.fhir.base_url!r}: an http(s) URL")
        self._validate_tls()
        validate_context_url(self.credentials.health_context_url, "credentials.health_context_url")
        auditor = self.incentives.auditor_url
        if auditor and (_http_url(auditor) is None or not self.incentives.awarder):
            raise InvalidInput(
                f"incentives.auditor_url {auditor!r}: an http(s) base URL, with awarder = true"
            )
        return self

    def _validate_tls(self) -> None:
        tls = self.tls
        if bool(tls.cert) != bool(tls.key):
            raise InvalidInput("tls.cert and tls.key go together")
        if tls.require_client_cert and not (tls.cert and tls.ca):
            raise InvalidInput("tls.require_client_cert needs tls.cert, tls.key and tls.ca")
        for key in _TLS_PATHS:
            value = getattr(tls, key)
            if value and not Path(value).is_file():
                raise InvalidInput(f"tls.{key}: no file at {value}")


def _http_url(url: str) -> SplitResult | None:
    """``url`` split when it is an http(s) URL with a host, else None. ``urlsplit`` raises
    ValueError on a malformed IPv6 host (``http://]x``): that escaped as a traceback."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return parts if parts.scheme in ("http", "https") and parts.netloc else None


def _is_did_web_host(host: str) -> bool:
    """A lower-case DNS name, optionally with ``:port`` (did:web percent-encodes the colon)."""
    name, colon, port = host.partition(":")
    if colon and not (port.isascii() and port.isdigit() and 0 < int(port) <= 65535):
        return False
    return len(name) <= 253 and all(_DNS_LABEL.match(label) for label in name.split("."))


def load_node_config(path: str | Path) -> NodeConfig:
    """Read and validate a node configuration file."""
    path = Path(path)
    base = path.resolve().parent
    try:
        doc = tomllib.loads(path.read_text())
        http, state, ordering = doc.get("http", {}), doc.get("state", {}), doc.get("ordering", {})
        unknown = set(doc) - set(_TOP_LEVEL)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        config = NodeConfig(
            org=str(doc["org"]),
            consortium=(base / str(doc["consortium"])).resolve(),
            data_dir=(base / str(doc["data_dir"])).resolve(),
            member=str(doc.get("member", "peer0")),
            http=HttpSettings(**_typed(http, HttpSettings)),
            state=StateSettings(**_typed(state, StateSettings)),
            ordering=OrderingSettings(
                **_with_paths(ordering, OrderingSettings, ("nkey_seed",), base)
            ),
            peers={str(k): str(v) for k, v in doc.get("peers", {}).items()},
            did_web_host=_string(doc, "did_web_host"),
            fhir=_fhir(doc.get("fhir", {}), base),
            tls=_tls(doc.get("tls", {}), base),
            credentials=CredentialsSettings(
                **_typed(doc.get("credentials", {}), CredentialsSettings)
            ),
            incentives=IncentivesSettings(
                **_with_paths(
                    doc.get("incentives", {}), IncentivesSettings, ("evidence_secret_file",), base
                )
            ),
        )
    except FileNotFoundError as exc:
        raise InvalidInput(f"no node configuration at {path}") from exc
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"{path} is not a valid node configuration: {exc!r}") from exc
    return config.validate()


def _string(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        raise TypeError(f"{key} must be str")
    return value


def _with_paths(section: Any, kind: type, paths: tuple[str, ...], base: Path) -> dict[str, Any]:
    """A table's typed values, its path settings made absolute (relative to ``base``)."""
    values = _typed(section, kind)
    for key in paths:
        if values.get(key):
            values[key] = str((base / values[key]).resolve())
    return values


def _fhir(section: Any, base: Path) -> FhirSettings:
    return FhirSettings(**_with_paths(section, FhirSettings, _FHIR_PATHS, base))


def _tls(section: Any, base: Path) -> TlsSettings:
    return TlsSettings(**_with_paths(section, TlsSettings, _TLS_PATHS, base))


def _typed(section: Any, kind: type) -> dict[str, Any]:
    if not isinstance(section, dict):
        raise TypeError(f"[{kind.__name__}] must be a table")
    defaults = kind()
    out: dict[str, Any] = {}
    for key, value in section.items():
        if not hasattr(defaults, key):
            raise ValueError(f"unknown setting {key!r}")
        expected = type(getattr(defaults, key))
        if expected is tuple:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"{key} must be a list of strings")
            value = tuple(value)
        elif expected is float and type(value) is int:
            value = float(value)
        elif type(value) is not expected:
            raise TypeError(f"{key} must be {expected.__name__}")
        out[key] = value
    return out


def save_node_config(config: NodeConfig, path: str | Path) -> None:
    """Write ``config`` as TOML, with paths relative to the file's directory."""
    path = Path(path)
    base = path.resolve().parent

    def rel(p: Path) -> str:
        return os.path.relpath(p.resolve(), base)

    doc: dict[str, Any] = {
        "org": config.org,
        "consortium": rel(config.consortium),
        "member": config.member,
        "data_dir": rel(config.data_dir),
        **({"did_web_host": config.did_web_host} if config.did_web_host else {}),
        "http": {
            "host": config.http.host,
            "port": config.http.port,
            "max_body_bytes": config.http.max_body_bytes,
        },
        "state": {
            "backend": config.state.backend,
            "dsn": config.state.dsn,
            "schema": config.state.schema,
        },
        "ordering": {
            "backend": config.ordering.backend,
            "servers": list(config.ordering.servers),
            "channel": config.ordering.channel,
            "replica": config.ordering.replica,
            "broadcast_timeout": config.ordering.broadcast_timeout,
            **(
                {"nkey_seed": rel(Path(config.ordering.nkey_seed))}
                if config.ordering.nkey_seed
                else {}
            ),
            "endorse_transport": config.ordering.endorse_transport,
            "tx_batching": config.ordering.tx_batching,
        },
        "peers": dict(config.peers),
    }
    if config.fhir != FhirSettings():
        fhir = {k: getattr(config.fhir, k) for k in FhirSettings.__dataclass_fields__}
        for key in _FHIR_PATHS:
            if fhir[key]:
                fhir[key] = rel(Path(fhir[key]))
        doc["fhir"] = fhir
    if config.tls != TlsSettings():
        tls: dict[str, Any] = {k: getattr(config.tls, k) for k in TlsSettings.__dataclass_fields__}
        for key in _TLS_PATHS:
            if tls[key]:
                tls[key] = rel(Path(tls[key]))
        doc["tls"] = tls
    if config.credentials != CredentialsSettings():
        doc["credentials"] = {"health_context_url": config.credentials.health_context_url}
    if config.incentives != IncentivesSettings():
        fields = IncentivesSettings.__dataclass_fields__
        incentives = {k: getattr(config.incentives, k) for k in fields}
        if incentives["evidence_secret_file"]:
            incentives["evidence_secret_file"] = rel(Path(incentives["evidence_secret_file"]))
        doc["incentives"] = incentives
    path.write_text(tomli_w.dumps(doc))
