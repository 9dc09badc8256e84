"""The payer side of a node: what :class:`~careledger.daemon.process.NodeProcess` opens so its API
serves the PAS, eligibility and directory routes (:func:`careledger.payer.routes.add_payer_routes`).

Every node serves them: any organisation may be a payer (the routes act for the node's own
organisation; a node whose organisation publishes no plans simply has no requests), every node
serves the shared directory, and each watches its own organisation's prior-authorization
deadlines (:class:`~careledger.payer.pas.deadlines.DeadlineWatch`, every minute). Off-chain
files under the node's data directory:
``payer-pas.sqlite`` (request Bundles, Patient entries, reviewers' texts) and
``payer-member.secret`` (the key of the member handles; like the FHIR holder secret, it must not
change), ``payer-claims.sqlite`` (the claims adjudicated, as billed: the remittance's off-chain
half), ``payer-claim.key`` (the key of the claims' ledger form) and, on the node of the
organisation running the cross-payer fingerprint service, ``payer-fingerprint.key``.
"""

from __future__ import annotations

import base64
import os
import secrets
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI

from careledger.api.app import NodeApp
from careledger.credentials.ledger import gateway_query
from careledger.errors import InvalidInput
from careledger.longitudinal.routes import SignedRequests
from careledger.node.gateway import Gateway
from careledger.payer.claims.archive import SQLiteClaimArchive
from careledger.payer.claims.oprf_node import NodeFingerprints
from careledger.payer.claims.remittance import RemittanceDesk
from careledger.payer.claims.routes import NodeClaimDirectory, add_claim_routes, member_system_of
from careledger.payer.claims_service import ClaimsDesk
from careledger.payer.directory.desk import DirectoryDesk
from careledger.payer.directory.licence import LicenceCheck
from careledger.payer.directory.plan_net import DirectoryReader
from careledger.payer.eligibility import LedgerEligibility
from careledger.payer.ledger_form import ClaimKeyer
from careledger.payer.pas.deadlines import DeadlineWatch
from careledger.payer.pas.service import PriorAuthService
from careledger.payer.pas.store import SQLitePasStore
from careledger.payer.routes import add_payer_routes


def member_secret(path: Path) -> bytes:
    """The member-handle key in ``path`` (base64url), created (32 random bytes, mode 0600) on
    first use. It must not change: every member handle on the ledger derives from it."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text + "\n")
    try:
        secret = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise InvalidInput(f"{path} does not hold a base64url secret") from exc
    if len(secret) < 16:
        raise InvalidInput(f"{path}: the member-handle secret needs at least 16 bytes")
    return secret


@dataclass
class PayerSide:
    store: SQLitePasStore
    client: httpx.AsyncClient
    prior_auth: PriorAuthService
    deadlines: DeadlineWatch
    claims: ClaimsDesk | None = None
    archive: SQLiteClaimArchive | None = None
    signing: httpx.AsyncClient | None = None
    remittance: RemittanceDesk | None = None
    licences: LicenceCheck | None = None

    async def close(self) -> None:
        if self.signing is not None:
            await self.signing.aclose()
        await self.deadlines.stop()
        await self.client.aclose()
        self.store.close()
        if self.archive is not None:
            self.archive.close()


def open_payer(
    node_app: NodeApp,
    gateway: Gateway,
    data_dir: Path,
    *,
    verify: ssl.SSLContext | bool = True,
    peers: Mapping[str, str] | None = None,
) -> PayerSide:
    """Open the payer side on ``gateway`` and add its routes to the node's API ``node_app``
    (before ``/fhir`` is mounted there)."""
    app = node_app.app
    assert isinstance(app, FastAPI)

    secret = member_secret(data_dir / "payer-member.secret")
    store = SQLitePasStore(data_dir / "payer-pas.sqlite")
    client = httpx.AsyncClient(timeout=10.0, verify=verify)
    service = PriorAuthService(gateway, store, secret, client=client)
    licences = LicenceCheck(gateway_query(gateway))
    org = gateway.identity.org
    add_payer_routes(
        app,
        service,
        LedgerEligibility(gateway.evaluate, gateway.identity.org),
        (DirectoryReader(gateway.evaluate, licences), DirectoryDesk(gateway, licences)),
    )
    deadlines = DeadlineWatch(service)
    deadlines.start()
    # Claims intake and remittance (payer/claims/routes.py); its Claim/$submit takes the PAS
    # route's place and dispatches by Claim.use.
    archive = SQLiteClaimArchive(data_dir / "payer-claims.sqlite")
    claim_key = ClaimKeyer(member_secret(data_dir / "payer-claim.key"))
    signing = httpx.AsyncClient(auth=SignedRequests(gateway.identity), timeout=10.0, verify=verify)
    fingerprints = NodeFingerprints(
        gateway, org, data_dir / "payer-fingerprint.key", peers or {}, signing
    )
    desk = ClaimsDesk(gateway, claim_key, archive, fingerprints=fingerprints)
    directory = NodeClaimDirectory(org, secret, member_system_of(org))
    remittance = RemittanceDesk(desk, org, history=gateway.peer.state)
    add_claim_routes(
        app, service, desk, directory, remittance=remittance, fingerprints=fingerprints
    )
    return PayerSide(
        store, client, service, deadlines, desk, archive, signing, remittance, licences
    )
