"""Batched endorsement over NATS request/reply, on the connection a node already holds.

Each organisation's node answers on ``careledger.<channel>.endorse.<Org>`` (one queue group, so
a second process of the same organisation would share the load); other nodes' gateways send
:mod:`careledger.node.endorse_batch` requests there. With ``network up --tls`` the NATS
authorization lets only that organisation's certificate subscribe to its subject, and only
consortium nodes publish to any endorse subject (:func:`endorse_permissions`).

The message bodies are canonical CBOR and self-authenticating (the request signed by the
requesting node, each proposal by its creator, each endorsement by its endorser), so NATS only
carries them; mutual TLS and the permissions keep outsiders from reading or answering them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nats.errors

from careledger.identity.msp import LocalIdentity
from careledger.node.endorse_batch import BatchEndorsing, BatchingEndorser, NoEndorser

log = logging.getLogger(__name__)

#: Seconds a gateway waits for a batch reply before the organisation counts as unreachable: a
#: node killed while answering leaves its requests unanswered (NATS only reports "no responders"
#: for a subject nobody listens on), so this bounds how long those proposals wait.
REQUEST_TIMEOUT = 10.0


def endorse_subject(channel: str, org: str) -> str:
    return f"careledger.{channel}.endorse.{org}"


def endorse_permissions(channel: str, orgs: list[str], org: str | None) -> dict[str, list[str]]:
    """Subjects a NATS user may not use for endorsement: ``{"subscribe": [...], "publish":
    [...]}``. A node (``org``) may subscribe only to its own organisation's subject; a user that
    is no node (``org`` None: the bench or operator client) may neither publish nor subscribe to
    any endorse subject. Reply inboxes (``_INBOX.>``) stay open to all."""
    others = [endorse_subject(channel, o) for o in orgs if o != org]
    if org is None:
        every = [endorse_subject(channel, "*")]
        return {"subscribe": every, "publish": every}
    return {"subscribe": others, "publish": []}


async def serve_endorsements(nc: Any, channel: str, handler: BatchEndorsing) -> Any:
    """Answer batch requests for ``handler``'s organisation on ``nc``; returns the
    subscription (``await sub.unsubscribe()`` to stop)."""
    subject = endorse_subject(channel, handler.peer.org)

    async def on_request(msg: Any) -> None:
        try:
            await msg.respond(handler.handle(msg.data))
        except Exception as exc:  # a reply that cannot be sent: the requester times out
            log.warning("endorse reply on %s not sent: %r", subject, exc)

    return await nc.subscribe(subject, queue=f"endorse-{handler.peer.org}", cb=on_request)


def nats_endorser(
    nc: Any,
    channel: str,
    org: str,
    identity: LocalIdentity,
    *,
    timeout: float = REQUEST_TIMEOUT,
) -> BatchingEndorser:
    """A gateway's endorser for ``org``, sending batches over ``nc``."""
    subject = endorse_subject(channel, org)

    async def send(data: bytes) -> bytes:
        try:
            msg = await asyncio.wait_for(nc.request(subject, data, timeout=timeout), timeout + 1)
        except nats.errors.NoRespondersError as exc:  # nobody subscribed: the node is down
            raise NoEndorser(f"no responders on {subject}") from exc
        body: bytes = msg.data
        return body

    return BatchingEndorser(org, identity, send, describe=f"{org} (NATS {subject})")
