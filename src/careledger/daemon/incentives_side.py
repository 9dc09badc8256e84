"""The incentives side of a node: what :class:`~careledger.daemon.process.NodeProcess` runs so
its API can award and co-sign (``[incentives]`` settings, docs/incentives.md).

Every node serves the incentive routes (:func:`careledger.incentives.routes.
add_incentive_routes`); a node awards only with ``awarder = true`` and co-signs as an auditor
only with ``cosigner = true``. Both verify evidence against the node's own peer (DIDs, trust
registry, status lists, consents, paid claims) and key the evidence digests with the secret in
``evidence_secret_file``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from careledger.credentials.ledger import gateway_query, ledger_resolver, ledger_verifier
from careledger.crypto.keyfiles import secret_file
from careledger.daemon.config import IncentivesSettings
from careledger.daemon.payer_side import member_secret
from careledger.identity.msp import LocalIdentity
from careledger.incentives.awarding import AuditorCosigner, Awarder, EvidenceKeys
from careledger.incentives.claim_evidence import PaidClaimChecker
from careledger.incentives.remote import RemoteCosigner
from careledger.incentives.routes import AWARDER_STATE, COSIGNER_STATE
from careledger.node.gateway import Gateway
from careledger.payer.claims.routes import NodeClaimDirectory, member_system_of

SECRET_FILE = "incentives-evidence.secret"
DID_CACHE_SECONDS = 60.0  # a verifier's usual DID cache: keys rotate rarely


@dataclass
class IncentivesSide:
    awarder: Awarder | None = None
    cosigner: AuditorCosigner | None = None
    _remote: list[RemoteCosigner] = field(default_factory=list)

    async def close(self) -> None:
        for remote in self._remote:
            await remote.aclose()


def open_incentives(
    app: FastAPI,
    settings: IncentivesSettings,
    gateway: Gateway,
    identity: LocalIdentity,
    data_dir: Path,
    *,
    verify: ssl.SSLContext | bool = True,
) -> IncentivesSide:
    """Set the awarder and co-signer ``settings`` ask for on ``app.state`` (where the incentive
    routes look for them)."""
    side = IncentivesSide()
    if not (settings.awarder or settings.cosigner):
        return side
    path = Path(settings.evidence_secret_file or data_dir / SECRET_FILE)
    keys = EvidenceKeys(secret_file(path, min_bytes=32))
    query = gateway_query(gateway)
    resolver = ledger_resolver(query, cache_ttl=DID_CACHE_SECONDS)
    # Paid-claim rules: the node's own member handles (the payer's keyed handles, the same
    # file and member id system as its claim intake; docs/incentives.md, "Paid claims").
    handles = NodeClaimDirectory(
        identity.org,
        member_secret(data_dir / "payer-member.secret"),
        member_system_of(identity.org),
    )
    checker = PaidClaimChecker(ledger_verifier(query, resolver), resolver, query, handles)
    if settings.cosigner:
        side.cosigner = AuditorCosigner(identity, checker, keys)
        setattr(app.state, COSIGNER_STATE, side.cosigner)
    if settings.awarder:
        remote = None
        if settings.auditor_url:
            remote = RemoteCosigner(settings.auditor_url, identity, verify=verify)
            side._remote.append(remote)
        side.awarder = Awarder(gateway, checker, keys, remote)
        setattr(app.state, AWARDER_STATE, side.awarder)
    return side
