"""A consortium's files: configuration, key material and the genesis block.

``careledger init DIR`` writes::

    DIR/consortium.toml                     name, organisations, ordering settings
    DIR/genesis.block                       block 0, signed by the first organisation's orderer
    DIR/orgs/<Org>/                         mode 0700: the organisation's key material
    DIR/orgs/<Org>/ca.key                   the organisation's root key (hex seed, mode 0600)
    DIR/orgs/<Org>/members/<name>.id        a member's identity (certificate signed by ca.key)
    DIR/orgs/<Org>/members/<name>.key       the member's private key (hex seed, mode 0600)
    DIR/data/<Org>/{blocks.log,state.db}    each peer's ledger, created when the network runs

Every organisation gets members ``peer0``, ``orderer0``, ``admin`` and ``client0``. In a real
deployment each organisation keeps its own ``orgs/<Org>`` folder; ``init`` makes them all in one
place for a development consortium.
"""

from __future__ import annotations

import re
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from careledger.contracts.registry import ContractRegistry
from careledger.crypto.keyfiles import private_dir, read_secret, write_secret
from careledger.crypto.keys import BatchVerifier, SigningKey
from careledger.errors import InvalidInput, StorageError
from careledger.identity.msp import LocalIdentity, OrgDef, Role, enrol, parse_cert
from careledger.ledger.block import GENESIS_PREVIOUS_HASH, Block, decode_block, make_block
from careledger.ledger.blockstore import BlockStore
from careledger.ledger.state.sqlite import SQLiteStateStore
from careledger.node.peer import Peer
from careledger.ordering.base import CutterConfig
from careledger.ordering.solo import sign_block
from careledger.validation.genesis import GenesisConfig, genesis_tx

MEMBERS: tuple[tuple[str, Role], ...] = (
    ("peer0", Role.PEER),
    ("orderer0", Role.ORDERER),
    ("admin", Role.ADMIN),
    ("client0", Role.CLIENT),
)
_ORG_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


@dataclass(frozen=True, slots=True)
class OrgEntry:
    id: str
    name: str
    root_key: bytes


@dataclass(slots=True)
class ConsortiumConfig:
    dir: Path
    name: str
    orgs: list[OrgEntry]
    orderer: str = ""
    cutter: CutterConfig = field(default_factory=CutterConfig)

    @property
    def org_ids(self) -> list[str]:
        return [o.id for o in self.orgs]

    def org_dir(self, org: str) -> Path:
        return self.dir / "orgs" / org

    def data_dir(self, org: str) -> Path:
        return self.dir / "data" / org

    def member(self, org: str, name: str) -> LocalIdentity:
        base = self.org_dir(org) / "members"
        try:
            identity = (base / f"{name}.id").read_bytes()
            key = SigningKey(bytes.fromhex(read_secret(base / f"{name}.key").decode().strip()))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot load member {org}.{name} from {base}: {exc}") from exc
        cert, _, _ = parse_cert(identity)
        if cert.public_key != key.public.raw:
            raise InvalidInput(f"key of {org}.{name} does not match its certificate")
        return LocalIdentity(cert, identity, key)

    def root_key(self, org: str) -> SigningKey:
        seed = read_secret(self.org_dir(org) / "ca.key").decode().strip()
        return SigningKey(bytes.fromhex(seed))

    def orderer_identity(self) -> LocalIdentity:
        org, _, name = self.orderer.partition(".")
        return self.member(org, name)

    def genesis(self) -> Block:
        try:
            return decode_block((self.dir / "genesis.block").read_bytes())
        except OSError as exc:
            raise StorageError(f"cannot read the genesis block: {exc}") from exc


def _write_secret(path: Path, text: str) -> None:
    write_secret(path, text + "\n")


def init_consortium(
    directory: str | Path,
    orgs: list[str],
    *,
    name: str = "careledger",
    cutter: CutterConfig | None = None,
) -> ConsortiumConfig:
    """Create keys, certificates, configuration and genesis block for ``orgs``."""
    root = Path(directory)
    if (root / "consortium.toml").exists():
        raise InvalidInput(f"{root} already holds a consortium (consortium.toml exists)")
    if len(orgs) < 1 or len(set(orgs)) != len(orgs):
        raise InvalidInput("give one or more distinct organisation ids")
    for org in orgs:
        if not _ORG_ID.match(org):
            raise InvalidInput(
                f"organisation id {org!r}: a letter then up to 31 letters, digits, - or _"
            )
    now = int(time.time() * 1000)
    entries: list[OrgEntry] = []
    for org in orgs:
        ca = SigningKey.generate()
        members = private_dir(root / "orgs" / org / "members")
        _write_secret(root / "orgs" / org / "ca.key", ca.seed().hex())
        for serial, (member, role) in enumerate(MEMBERS, start=1):
            ident = enrol(ca, org, member, role, serial, now)
            (members / f"{member}.id").write_bytes(ident.identity)
            _write_secret(members / f"{member}.key", ident.key.seed().hex())
        entries.append(OrgEntry(org, org, ca.public.raw))
    config = ConsortiumConfig(root, name, entries, f"{orgs[0]}.orderer0", cutter or CutterConfig())
    save_config(config)
    genesis = GenesisConfig(name, [OrgDef(o.id, o.root_key, o.name) for o in entries], now)
    block = make_block(0, GENESIS_PREVIOUS_HASH, [genesis_tx(genesis)], now)
    sign_block(block, config.orderer_identity())
    (root / "genesis.block").write_bytes(block.to_bytes())
    return config


def save_config(config: ConsortiumConfig) -> None:
    doc: dict[str, Any] = {
        "name": config.name,
        "ordering": {
            "backend": "solo",
            "orderer": config.orderer,
            "max_tx_count": config.cutter.max_tx_count,
            "preferred_max_bytes": config.cutter.preferred_max_bytes,
            "batch_timeout_ms": int(config.cutter.batch_timeout * 1000),
        },
        "orgs": [{"id": o.id, "name": o.name, "root_key": o.root_key.hex()} for o in config.orgs],
    }
    (config.dir / "consortium.toml").write_text(tomli_w.dumps(doc))


def load_config(directory: str | Path) -> ConsortiumConfig:
    root = Path(directory)
    path = root / "consortium.toml"
    try:
        doc = tomllib.loads(path.read_text())
        ordering = doc.get("ordering", {})
        orgs = [
            OrgEntry(o["id"], o.get("name", o["id"]), bytes.fromhex(o["root_key"]))
            for o in doc["orgs"]
        ]
        cutter = CutterConfig(
            max_tx_count=int(ordering.get("max_tx_count", 500)),
            preferred_max_bytes=int(ordering.get("preferred_max_bytes", 2 * 1024 * 1024)),
            batch_timeout=int(ordering.get("batch_timeout_ms", 50)) / 1000,
        )
        if (
            cutter.max_tx_count < 1
            or cutter.preferred_max_bytes < 1024
            or cutter.batch_timeout <= 0
        ):
            raise ValueError("ordering limits must be positive")
        return ConsortiumConfig(root, str(doc["name"]), orgs, str(ordering["orderer"]), cutter)
    except FileNotFoundError as exc:
        raise InvalidInput(f"no consortium at {root}: run `careledger init {root}` first") from exc
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        # AttributeError: a table that is a scalar or a list (``ordering = true``) had ``.get``
        # called on it and escaped as a traceback.
        raise InvalidInput(f"{path} is not a valid consortium configuration: {exc!r}") from exc


def open_peer(
    config: ConsortiumConfig,
    org: str,
    registry: ContractRegistry,
    verifier: BatchVerifier | None = None,
    *,
    fsync: bool = True,
) -> Peer:
    data = config.data_dir(org)
    data.mkdir(parents=True, exist_ok=True)
    blocks = BlockStore(data / "blocks.log", fsync=fsync)
    try:
        state = SQLiteStateStore(data / "state.db")
    except BaseException:
        blocks.close()
        raise
    try:
        return Peer(config.member(org, "peer0"), state, blocks, registry, verifier)
    except BaseException:  # recovery failed: release the stores before reporting it
        blocks.close()
        state.close()
        raise
