"""How a node carries endorsement between organisations: HTTP (``/v1/endorse``, one proposal a
request) or batches over the NATS connection its JetStream ordering client holds
(``[ordering] endorse_transport = "nats"``, :mod:`careledger.node.endorse_nats`).

A node on JetStream always answers batch requests for its organisation, so nodes configured
either way work together; ``endorse_transport`` only chooses how this node's gateway asks.

Not for: the node's lifecycle (:mod:`careledger.daemon.process`).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from careledger.daemon.config import NodeConfig
from careledger.identity.msp import LocalIdentity
from careledger.node.endorse_batch import BatchEndorsing, BatchingEndorser
from careledger.node.endorse_nats import nats_endorser, serve_endorsements
from careledger.node.peer import Peer
from careledger.ordering.base import OrderingService

log = logging.getLogger("careledger.node")


@dataclass
class NatsEndorsement:
    """What a node runs for batched endorsement over NATS; :meth:`close` stops it."""

    endorsers: dict[str, BatchingEndorser] = field(default_factory=dict)
    subscription: Any = None

    async def close(self) -> None:
        if self.subscription is not None:
            # A connection already closed has nothing left to stop.
            with contextlib.suppress(Exception):
                await self.subscription.unsubscribe()
            self.subscription = None
        for org, endorser in self.endorsers.items():
            if endorser.requests:  # how well proposals were batched, for the operator's log
                log.info(
                    "endorsement by %s over NATS: %d proposals in %d requests",
                    org,
                    endorser.proposals,
                    endorser.requests,
                )
            await endorser.aclose()


async def open_nats_endorsement(
    cfg: NodeConfig, ordering: OrderingService, peer: Peer, identity: LocalIdentity
) -> NatsEndorsement:
    """Serve this organisation's endorse subject on the ordering client's NATS connection and,
    with ``endorse_transport = "nats"``, endorsers for the ``[peers]`` organisations over it.
    Nothing without a JetStream ordering client (an embedded or shared in-memory orderer)."""
    nc = getattr(ordering, "nc", None)
    if cfg.ordering.backend != "jetstream" or nc is None:
        return NatsEndorsement()
    channel = cfg.ordering.channel
    wiring = NatsEndorsement()
    wiring.subscription = await serve_endorsements(nc, channel, BatchEndorsing(peer))
    if cfg.ordering.endorse_transport == "nats":
        wiring.endorsers = {org: nats_endorser(nc, channel, org, identity) for org in cfg.peers}
    return wiring
