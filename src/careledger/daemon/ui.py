"""The web UI's context for a node process: what :mod:`careledger.web` reads, from the node.

Not for the UI itself (:mod:`careledger.web`); the node mounts it with
``careledger.web.mount_ui(app, node_ui_context(node))``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from careledger.longitudinal.everything import HolderEndpoint, LongitudinalRecord
from careledger.web.context import FhirSide, PayerBackend, UiContext, session_secret

if TYPE_CHECKING:
    from careledger.daemon.process import NodeProcess


def node_ui_context(node: NodeProcess) -> UiContext:
    """The context of a started node: its service, FHIR side (with ``$everything`` over its
    peers, through the node's signing client), and a session secret kept in its data directory
    (``ui-session.secret``, mode 0600, so sign-ins survive a restart) and its payer side (the
    payer desk reads its PAS service, claims desk, remittance and licence checks). No demo
    wallets or keys: on a node, patients and staff sign with their own."""
    assert node.service is not None, "start() the node first"
    cfg = node.config
    fhir: FhirSide | None = None
    if node.fhir is not None:
        holders: dict[str, HolderEndpoint] = {}
        if node.fhir.client is not None:
            holders = {
                org: HolderEndpoint(url.rstrip("/") + "/fhir", node.fhir.client)
                for org, url in cfg.peers.items()
            }
        record = LongitudinalRecord(node.fhir.service, node.fhir.ledger, holders)
        fhir = FhirSide(node.fhir.service, node.fhir.ledger, record)
    payer = None
    if node.payer is not None:  # every node has its payer side (daemon.payer_side)
        side = node.payer
        payer = PayerBackend(side.prior_auth, side.claims, side.remittance, side.licences)
    return UiContext(
        node=node.service,
        session_secret=session_secret(cfg.data_dir / "ui-session.secret"),
        fhir=fhir,
        peers=dict(cfg.peers),
        secure_cookies=cfg.tls.serves_https,
        ordering=cfg.ordering.backend,
        ordering_health=node.ordering,
        payer=payer,
    )
