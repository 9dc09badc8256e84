"""Keep a demo consortium's UI open: ``careledger demo --serve``.

:func:`serve_demo` serves one organisation's UI for an :class:`~careledger.node.network.
EmbeddedNetwork` (the demo's consortium in one process) on ``127.0.0.1``, with the demo's
synthetic patients' wallets and the organisation's ``admin`` and ``client0`` keys offered on
the login pages (:class:`~careledger.web.context.DemoWallets`,
:class:`~careledger.web.context.DemoStaffKeys`) — a newcomer clicks through without pasting
signatures. Only for synthetic data: a real node never holds people's keys.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from careledger.access import Rule, access, require_rules
from careledger.api.server import ApiServer
from careledger.api.service import NodeService
from careledger.credentials.wallet import Wallet
from careledger.identity.did.keys import Ed25519Signer
from careledger.incentives.wallet import MemberWallet
from careledger.web.app import mount_ui
from careledger.web.context import (
    DemoStaffKeys,
    DemoWallet,
    DemoWallets,
    FhirSide,
    PayerBackend,
    UiContext,
)

if TYPE_CHECKING:
    from careledger.fhir.service import FhirService
    from careledger.longitudinal.everything import LongitudinalRecord
    from careledger.longitudinal.ledger import ProviderLedger
    from careledger.node.network import EmbeddedNetwork


class Provider(Protocol):
    """One organisation's FHIR side in a demo (what :class:`careledger.sim.demo_fhir.Provider`
    has); the UI reads its service, ledger side and ``$everything``."""

    @property
    def service(self) -> FhirService: ...

    @property
    def ledger(self) -> ProviderLedger: ...

    @property
    def record(self) -> LongitudinalRecord: ...


@dataclass(frozen=True)
class DemoPatient:
    """A synthetic patient the UI may sign for: their DID key and optional credential wallet."""

    did: str
    signer: Ed25519Signer
    wallet: Wallet | None = None
    rewards: MemberWallet | None = None


@dataclass
class DemoUi:
    server: ApiServer
    context: UiContext
    service: NodeService

    @property
    def url(self) -> str:
        return f"{self.server.url}/ui/"

    async def wait(self) -> None:
        """Until the server stops (Ctrl-C in ``careledger demo --serve``)."""
        await self.server.wait()

    async def close(self) -> None:
        await self.server.stop()
        self.service.close()


def demo_context(
    net: EmbeddedNetwork,
    org: str,
    *,
    provider: Provider | None = None,
    patients: Iterable[DemoPatient] = (),
    staff: Iterable[str] = ("admin", "client0"),
    peers: Mapping[str, str] | None = None,
    payer: PayerBackend | None = None,
) -> tuple[UiContext, NodeService]:
    """The UI context of ``org`` on an embedded network, with demo wallets and staff keys (and
    ``payer``, the organisation's payer side, for the payer desk)."""
    service = NodeService(net.peers[org], net.gateway(org, "client0"))
    wallets = DemoWallets()
    for p in patients:
        wallets.add(DemoWallet(p.signer, p.did, f"{p.did}#key-1", p.wallet, p.rewards))
    keys = DemoStaffKeys()
    for member in staff:
        keys.add(net.config.member(org, member))
    fhir = None
    if provider is not None:
        fhir = FhirSide(provider.service, provider.ledger, provider.record)
    context = UiContext(
        node=service,
        session_secret=secrets.token_bytes(32),
        fhir=fhir,
        peers=dict(peers or {}),
        ordering="embedded-solo",
        wallets=wallets,
        staff_keys=keys,
        payer=payer,
    )
    return context, service


async def serve_demo(
    net: EmbeddedNetwork,
    *,
    org: str = "Hospital",
    providers: Mapping[str, Provider] | None = None,
    patients: Iterable[DemoPatient] = (),
    payers: Mapping[str, PayerBackend] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> DemoUi:
    """Start serving ``org``'s UI on ``host:port`` (0: any free port); returns the running
    server — print ``ui.url``, then ``await ui.wait()``, and ``await ui.close()`` at the end."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the demo UI holds synthetic people's keys: it serves loopback only")
    provider = (providers or {}).get(org)
    payer = (payers or {}).get(org)
    context, service = demo_context(net, org, provider=provider, patients=patients, payer=payer)
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @root.get("/", include_in_schema=False, openapi_extra=access(Rule.OPEN))
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=303)

    mount_ui(root, context)
    require_rules(root)
    server = ApiServer(root, host, port)
    await server.start()
    return DemoUi(server, context, service)
