"""A payer's node API over httpx's ASGI transport on an embedded consortium: Org2 is the payer,
Org1 the provider that requests prior authorizations; requests are signed as the node API
requires. Builders for PAS request Bundles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from careledger.api.app import create_app
from careledger.api.auth import sign_request
from careledger.api.service import NodeService
from careledger.credentials.ledger import gateway_query
from careledger.node.consortium import ConsortiumConfig
from careledger.node.network import EmbeddedNetwork
from careledger.payer.directory.desk import DirectoryDesk
from careledger.payer.directory.licence import LicenceCheck
from careledger.payer.directory.plan_net import DirectoryReader
from careledger.payer.eligibility import MemoryEligibility
from careledger.payer.pas.service import PriorAuthService
from careledger.payer.pas.store import MemoryPasStore
from careledger.payer.routes import add_payer_routes
from careledger.sim.payer_workload import pas_request
from tests.harness import ORGS, running

PAYER = "Org2"
PROVIDER = "Org1"
SECRET = b"payer-member-secret-for-tests-32b"
MEMBER_ID = "W123456789"


@dataclass
class PayerNode:
    net: EmbeddedNetwork
    consortium: ConsortiumConfig
    service: PriorAuthService
    eligibility: MemoryEligibility
    nodes: dict[str, httpx.AsyncClient]
    hooks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def http(self) -> httpx.AsyncClient:
        return self.nodes[PAYER]

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        org: str = PROVIDER,
        member: str = "client0",
        at: str = PAYER,
    ) -> httpx.Response:
        """A request signed by ``org``.``member`` to ``at``'s node."""
        raw = (
            b"" if body is None else body if isinstance(body, bytes) else msgspec.json.encode(body)
        )
        headers = sign_request(self.consortium.member(org, member), method, path, raw)
        headers["Content-Type"] = "application/fhir+json"
        return await self.nodes[at].request(method, path, content=raw, headers=headers)


@asynccontextmanager
async def payer_node(
    consortium: ConsortiumConfig, contracts: tuple[str, ...] = ("prior_auth",)
) -> AsyncIterator[PayerNode]:
    async with running(consortium, contracts=contracts) as net, AsyncExitStack() as stack:
        hooks: list[dict[str, Any]] = []

        def hook(request: httpx.Request) -> httpx.Response:
            hooks.append(msgspec.json.decode(request.content))
            return httpx.Response(204)

        hook_client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.MockTransport(hook))
        )
        eligibility = MemoryEligibility()
        services: dict[str, PriorAuthService] = {}
        nodes: dict[str, httpx.AsyncClient] = {}
        for org in ORGS:
            gateway = net.gateway(org)
            services[org] = PriorAuthService(gateway, MemoryPasStore(), SECRET, client=hook_client)
            node = NodeService(net.peers[org], gateway)
            stack.callback(node.close)
            app = create_app(node)
            directory = None
            if "directory" in contracts:
                licences = LicenceCheck(gateway_query(gateway))
                directory = (
                    DirectoryReader(gateway.evaluate, licences),
                    DirectoryDesk(gateway, licences),
                )
            add_payer_routes(app.app, services[org], eligibility, directory)
            nodes[org] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node")
            )
        yield PayerNode(net, consortium, services[PAYER], eligibility, nodes, hooks)


def pas_bundle(
    *,
    claim_id: str | None = None,
    priority: str = "normal",
    related: str | None = None,
    cancel: bool = False,
    units: int = 2,
    member: str = MEMBER_ID,
) -> dict[str, Any]:
    bundle = pas_request(
        payer=PAYER,
        member_system="urn:org2:members",
        member_id=member,
        units=units,
        claim_id=claim_id,
        claim_system="urn:org1:pa",
        provider="Org1 Clinic",
        patient_name=("Rivera", "Ana"),
        birth_date="1961-07-14",
    )
    claim = bundle["entry"][0]["resource"]
    claim["priority"]["coding"][0]["code"] = priority
    if related is not None:
        claim["related"] = [{"claim": {"identifier": {"system": "urn:org1:pa", "value": related}}}]
    if cancel:
        claim["status"] = "cancelled"
    return bundle


def claim_response(bundle: dict[str, Any]) -> dict[str, Any]:
    first = bundle["entry"][0]["resource"]
    assert first["resourceType"] == "ClaimResponse"
    return first  # type: ignore[no-any-return]


def review_action(response: dict[str, Any], item: int = 0) -> str:
    ext = response["item"][item]["adjudication"][0]["extension"][0]
    code = next(e for e in ext["extension"] if e["url"] == "code")
    return str(code["valueCodeableConcept"]["coding"][0]["code"])


class ProposalClock:
    """Simulated time for proposals: the gateway stamps proposals with ``time.time()``, which
    contracts see as :attr:`Stub.timestamp`; moving this clock moves the contracts' "now"
    (request signatures and everything else keep the real clock)."""

    def __init__(self, start_ms: int) -> None:
        self.now_ms = start_ms

    def time(self) -> float:
        return self.now_ms / 1000

    @staticmethod
    def monotonic() -> float:
        import time

        return time.monotonic()

    def advance(self, ms: int) -> int:
        self.now_ms += ms
        return self.now_ms
