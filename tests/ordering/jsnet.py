"""A consortium whose peers and gateways order through NATS JetStream (real servers).

The embedded network's pieces — one :class:`Peer` per organisation, :class:`Gateway` s with local
endorsers — with a :class:`JetStreamOrdering` client per peer instead of the solo orderer, and
orderer replicas (:class:`JetStreamOrderer`) that tests start, kill and restart on their own.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from careledger.aio import stop_task
from careledger.contracts.registry import ContractRegistry, default_registry
from careledger.crypto.keys import BatchVerifier
from careledger.crypto.merkle import merkle_root
from careledger.ledger.block import GENESIS_PREVIOUS_HASH
from careledger.netctl.nats_cluster import NatsCluster
from careledger.node.consortium import ConsortiumConfig
from careledger.node.gateway import Gateway, LocalEndorser
from careledger.node.network import open_peer
from careledger.node.peer import Peer
from careledger.ordering.chain_rule import PeerChainView
from careledger.ordering.jetstream import JetStreamOrderer, JetStreamOrdering
from careledger.ordering.jetstream_streams import JetStreamSettings
from tests.harness import TOKENS_POLICY

_channels = itertools.count()


def settings_for(cluster: NatsCluster, **overrides: object) -> JetStreamSettings:
    """Settings on a fresh channel (its own two streams), so tests sharing a cluster are apart."""
    values: dict[str, object] = {
        "servers": cluster.urls,
        "channel": f"t{next(_channels)}_{id(cluster) % 10_000}",
        "replicas": min(3, cluster.size),
    }
    values.update(overrides)
    return JetStreamSettings(**values)  # type: ignore[arg-type]


class JetStreamNetwork:
    """Duck-compatible with :class:`EmbeddedNetwork` for :mod:`tests.harness` helpers."""

    def __init__(
        self,
        config: ConsortiumConfig,
        settings: JetStreamSettings,
        registry: ContractRegistry | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.registry = registry or default_registry()
        self.verifier = BatchVerifier(workers=1)
        self.peers: dict[str, Peer] = {}
        self.clients: dict[str, JetStreamOrdering] = {}
        self.orderers: dict[str, JetStreamOrderer] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start_orderer(self, org: str, *, peer_view: bool = False) -> JetStreamOrderer:
        """Start ``org``'s replica; with ``peer_view`` it judges blocks through ``org``'s peer
        (as a node's replica does), else with the genesis membership."""
        orderer = JetStreamOrderer(
            self.settings,
            self.config.member(org, "orderer0"),
            self.config.genesis(),
            self.config.cutter,
            PeerChainView(self.peers[org]) if peer_view else None,
        )
        await orderer.start()
        self.orderers[org] = orderer
        return orderer

    async def start_peer(self, org: str) -> Peer:
        peer = open_peer(self.config, org, self.registry, self.verifier, fsync=False)
        client = await JetStreamOrdering.connect(self.settings, f"peer-{org}")
        self.peers[org], self.clients[org] = peer, client
        self._tasks[org] = asyncio.create_task(peer.run(client), name=f"peer {org}")
        return peer

    async def stop_peer(self, org: str) -> None:
        task = self._tasks.pop(org)
        client = self.clients.pop(org)
        await client.close()  # ends the peer's deliver loop, however the task takes a cancel
        await stop_task(task)
        self.peers.pop(org).close()

    def gateway(self, org: str, member: str = "client0") -> Gateway:
        endorsers = {o: LocalEndorser(p) for o, p in self.peers.items()}
        return Gateway(
            self.config.member(org, member),
            self.peers[org],
            endorsers,
            self.clients[org],
            commit_timeout=20,
        )

    async def wait_height(self, height: int, timeout: float = 20.0) -> None:
        async def reached() -> None:
            while any(p.height() < height for p in self.peers.values()):
                for task in self._tasks.values():
                    if task.done():
                        task.result()
                await asyncio.sleep(0.01)

        await asyncio.wait_for(reached(), timeout)

    async def settle(self, timeout: float = 20.0) -> None:
        """Wait until every peer has the same height and nothing more arrives for a moment."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_since, last = loop.time(), None
        while loop.time() < deadline:
            heights = tuple(p.height() for p in self.peers.values())
            if heights != last:
                quiet_since, last = loop.time(), heights
            elif len(set(heights)) == 1 and loop.time() - quiet_since > 0.5:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"peers did not settle: heights {last}")

    async def stop(self) -> None:
        for orderer in self.orderers.values():
            await orderer.close()
        for org in list(self.peers):
            await self.stop_peer(org)
        self.verifier.close()


@asynccontextmanager
async def jetstream_network(
    config: ConsortiumConfig,
    settings: JetStreamSettings,
    *,
    orderers: tuple[str, ...] = ("Org1", "Org2"),
    registry: ContractRegistry | None = None,
    peer_view: bool = False,
) -> AsyncIterator[JetStreamNetwork]:
    """Orderer replicas of ``orderers`` and a peer per organisation, started; always stopped.
    With ``peer_view`` the replicas judge blocks through their organisation's peer, as a node's
    replica does (the peers start first)."""
    net = JetStreamNetwork(config, settings, registry)
    try:
        if not peer_view:
            await asyncio.gather(*(net.start_orderer(org) for org in orderers))
        for org in config.org_ids:
            await net.start_peer(org)
        if peer_view:
            await asyncio.gather(*(net.start_orderer(org, peer_view=True) for org in orderers))
        await net.wait_height(1)
        yield net
    finally:
        await net.stop()


async def approve_contract(net: JetStreamNetwork, name: str, policy: str = TOKENS_POLICY) -> None:
    """Org1's admin proposes the definition, Org2's approves it (2 of 3); every peer has it."""
    change = {"name": name, "version": "1.0", "policy": policy}
    proposed = await net.gateway("Org1", "admin").submit("_gov", "propose", ["contract", change])
    # Peers consume blocks from the stream independently: Org2's may not have the proposal yet.
    await net.wait_height(max(p.height() for p in net.peers.values()))
    approved = await net.gateway("Org2", "admin").submit("_gov", "approve", [proposed.result["id"]])
    assert approved.result["status"] == "applied"
    await net.wait_height(max(p.height() for p in net.peers.values()))


async def revoke_member(net: JetStreamNetwork, org: str, member: str) -> None:
    """Org2's admin proposes revoking ``org``.``member``, Org3's approves; every peer has it."""
    change = {"org": org, "serial": str(net.config.member(org, member).cert.serial)}
    motion = await net.gateway("Org2", "admin").submit("_gov", "propose", ["revoke_member", change])
    await net.wait_height(max(p.height() for p in net.peers.values()))
    await net.gateway("Org3", "admin").submit("_gov", "approve", [motion.result["id"]])
    await net.settle()


async def open_accounts(net: JetStreamNetwork, accounts: dict[str, int], org: str = "Org1") -> None:
    """Open ``accounts`` owned by ``org`` and mint their balances (by ``org``'s admin)."""
    client, admin = net.gateway(org), net.gateway(org, "admin")
    await asyncio.gather(*(client.submit("tokens", "open", [a]) for a in accounts))
    for account, amount in accounts.items():
        if amount:
            await admin.submit("tokens", "mint", [account, amount])


async def balances_of(net: JetStreamNetwork, accounts: list[str], org: str = "Org1") -> list[int]:
    gateway = net.gateway(org)
    return [await gateway.evaluate("tokens", "balance", [a]) for a in accounts]


def chain_of(peer: Peer) -> list[bytes]:
    """The header hashes of ``peer``'s chain, after checking it is hash-linked."""
    hashes: list[bytes] = []
    previous = GENESIS_PREVIOUS_HASH
    for block in peer.blocks:
        assert block.header.previous_hash == previous, f"block {block.number} is not linked"
        assert block.header.data_hash == merkle_root(block.transactions)
        previous = block.header.hash()
        hashes.append(previous)
    return hashes


def assert_same_chain(net: JetStreamNetwork) -> list[bytes]:
    """Every peer: same height, same hash-linked chain, same state root. Returns the chain."""
    peers = list(net.peers.values())
    assert len({(p.height(), p.blocks.height()) for p in peers}) == 1, "peer heights differ"
    assert len({p.state.state_root() for p in peers}) == 1, "peers hold different state roots"
    chains = [chain_of(p) for p in peers]
    assert all(c == chains[0] for c in chains), "peers hold different chains"
    return chains[0]
