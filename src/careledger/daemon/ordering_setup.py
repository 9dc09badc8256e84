"""How a node reaches ordering: the solo orderer or a NATS JetStream client (with the node's
TLS settings), and its organisation's orderer replica judging blocks through the node's peer.

Not for: the node's lifecycle (:mod:`careledger.daemon.process`).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from careledger.crypto.keyfiles import check_private
from careledger.daemon.config import OrderingSettings, TlsSettings
from careledger.node.consortium import ConsortiumConfig
from careledger.node.peer import Peer
from careledger.ordering.base import OrderingService
from careledger.ordering.solo import SoloOrderer
from careledger.tls import client_context


async def open_ordering(
    settings: OrderingSettings,
    consortium: ConsortiumConfig,
    peer: Peer,
    tls: ssl.SSLContext | None = None,
) -> OrderingService:
    """The ordering service a node delivers blocks from and its gateway broadcasts to (``tls``:
    the node's client context, :func:`client_tls`, for ``tls://`` servers)."""
    if settings.backend == "embedded-solo":
        genesis = consortium.genesis()
        return SoloOrderer(
            consortium.orderer_identity(),
            height=peer.blocks.height(),
            last_hash=peer.blocks.last_hash() or b"",
            config=consortium.cutter,
            genesis=genesis,
        )
    from careledger.ordering.jetstream import JetStreamOrdering

    return await JetStreamOrdering.connect(
        jetstream_settings(settings, tls), role=f"{peer.org}-peer"
    )


def jetstream_settings(settings: OrderingSettings, tls: ssl.SSLContext | None = None) -> Any:
    """The jetstream backend's settings for this node's ``[ordering]`` table; ``tls://``
    servers are reached with ``tls`` (the node's ``[tls]`` CA and certificate: mutual TLS), or
    the system's trust store without it; with ``nkey_seed`` the node signs in as its
    organisation's NATS user (:mod:`careledger.netctl.nats_credentials`)."""
    from careledger.ordering.jetstream_streams import JetStreamSettings

    extra: dict[str, Any] = {}
    if any(url.startswith("tls://") for url in settings.servers):
        extra["tls"] = tls or client_context(None)
    if settings.nkey_seed:
        # nats-py reads the file at each (re)connect; refuse it now if others may read it.
        extra["nkeys_seed"] = str(check_private(Path(settings.nkey_seed)))

    # A node lists every server of the cluster, so their number is the stream replication.
    return JetStreamSettings(
        servers=list(settings.servers),
        channel=settings.channel,
        replicas=min(3, len(settings.servers)),
        broadcast_timeout=settings.broadcast_timeout,
        tx_batching=settings.tx_batching,
        extra=extra,
    )


def client_tls(tls: TlsSettings) -> ssl.SSLContext | None:
    """How this node checks other nodes and NATS servers (``[tls] ca``, else the system's trust
    store) and the certificate it presents to them (``[tls] cert``/``key``); None without
    ``[tls]`` (plain defaults). Built once per node: it reads the PEM files."""
    if not (tls.ca or tls.cert):
        return None
    return client_context(
        Path(tls.ca) if tls.ca else None,
        Path(tls.cert) if tls.cert else None,
        Path(tls.key) if tls.key else None,
    )


async def start_replica(
    settings: OrderingSettings,
    consortium: ConsortiumConfig,
    org: str,
    peer: Peer,
    tls: ssl.SSLContext | None = None,
) -> Any:
    """This organisation's orderer replica (``[ordering] replica = true``, jetstream only).

    It judges blocks with the membership ``peer`` has committed (an orderer revoked later is
    refused as peers refuse it), so ``peer`` must be committing already."""
    from careledger.ordering.chain_rule import PeerChainView
    from careledger.ordering.jetstream import JetStreamOrderer

    replica = JetStreamOrderer(
        jetstream_settings(settings, tls),
        consortium.member(org, "orderer0"),
        consortium.genesis(),
        consortium.cutter,
        PeerChainView(peer),
    )
    await replica.start()
    return replica
