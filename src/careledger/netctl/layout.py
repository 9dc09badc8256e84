"""Where a local network keeps its files, and the network's own settings (``network.toml``).

::

    DIR/network.toml          orgs, ordering, ports, orderer orgs (written by the first ``up``)
    DIR/consortium/           keys, certificates, genesis block (``careledger init``)
    DIR/nodes/<Org>.toml      each organisation's node configuration
    DIR/data/<Org>/           each node's block file and SQLite state
    DIR/nats/                 the NATS servers' configurations and JetStream stores (n<i>/)
    DIR/tls/                  with --tls: the local CA, each node's, server's and the client cert
    DIR/run/<name>.pid        PID of each running process (removed by ``down``)
    DIR/logs/<name>.log       each process's output, appended across runs
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from careledger.daemon.config import ORDERING_BACKENDS
from careledger.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class NatsPorts:
    """One NATS server's ports, fixed when the network is created (kept across ``down``/``up``,
    so the servers rejoin as the same cluster and the nodes' configurations stay valid)."""

    client: int
    route: int
    monitor: int

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client}"


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    orgs: list[str]
    ordering: str
    node_ports: dict[str, int]
    nats: list[NatsPorts] = field(default_factory=list)
    """The NATS servers (jetstream ordering): ``n0``, ``n1``, … in this order."""
    orderers: list[str] = field(default_factory=list)
    """Organisations whose node runs an orderer replica (jetstream ordering)."""
    tls: bool = False
    """Mutual TLS everywhere: node APIs (HTTPS), node to node, NATS clients and routes."""

    def url(self, org: str) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.node_ports[org]}"

    @property
    def nats_urls(self) -> list[str]:
        scheme = "tls" if self.tls else "nats"
        return [f"{scheme}://127.0.0.1:{p.client}" for p in self.nats]


@dataclass(frozen=True, slots=True)
class NetworkLayout:
    root: Path

    @property
    def spec_file(self) -> Path:
        return self.root / "network.toml"

    @property
    def consortium(self) -> Path:
        return self.root / "consortium"

    def node_config(self, org: str) -> Path:
        return self.root / "nodes" / f"{org}.toml"

    def data(self, org: str) -> Path:
        return self.root / "data" / org

    @property
    def nats(self) -> Path:
        return self.root / "nats"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    def pid_file(self, name: str) -> Path:
        return self.root / "run" / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def exists(self) -> bool:
        return self.spec_file.exists()

    def load(self) -> NetworkSpec:
        try:
            doc = tomllib.loads(self.spec_file.read_text())
            spec = NetworkSpec(
                orgs=[str(o) for o in doc["orgs"]],
                ordering=str(doc["ordering"]),
                node_ports={str(k): int(v) for k, v in doc["node_ports"].items()},
                nats=[
                    NatsPorts(int(n["client"]), int(n["route"]), int(n["monitor"]))
                    for n in doc.get("nats", [])
                ],
                orderers=[str(o) for o in doc.get("orderers", [])],
                tls=bool(doc.get("tls", False)),
            )
        except FileNotFoundError as exc:
            raise InvalidInput(
                f"no network in {self.root}: run `careledger network up --dir {self.root}`"
            ) from exc
        except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"{self.spec_file} is not a network description: {exc!r}") from exc
        if spec.ordering not in ORDERING_BACKENDS or set(spec.node_ports) != set(spec.orgs):
            raise InvalidInput(f"{self.spec_file}: unknown ordering or ports not one per org")
        if spec.ordering == "jetstream" and not (
            spec.nats and set(spec.orderers) <= set(spec.orgs)
        ):
            raise InvalidInput(f"{self.spec_file}: jetstream ordering without NATS servers")
        return spec

    def save(self, spec: NetworkSpec) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        doc = {
            "orgs": spec.orgs,
            "ordering": spec.ordering,
            "node_ports": spec.node_ports,
            "orderers": spec.orderers,
            "tls": spec.tls,
            "nats": [
                {"client": p.client, "route": p.route, "monitor": p.monitor} for p in spec.nats
            ],
        }
        self.spec_file.write_text(tomli_w.dumps(doc))
