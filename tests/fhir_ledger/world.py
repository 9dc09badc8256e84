"""A consortium of three providers with FHIR stores on the ledger and one synthetic patient.

Org1 plays the hospital, Org2 the lab, Org3 the payer (see ``demo_records``). Used inside each
test's own event loop (``asyncio.run``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from careledger.fhir.bundles import process_bundle
from careledger.fhir.synthetic import transaction_bundle
from careledger.node.consortium import ConsortiumConfig
from careledger.node.network import EmbeddedNetwork
from careledger.sim.demo_fhir import (
    Provider,
    SyntheticPatient,
    approve_contracts,
    close_providers,
    demo_records,
    open_providers,
)
from tests.harness import running, settle

ROLES = {"Hospital": "Org1", "Lab": "Org2", "Payer": "Org3"}


@dataclass
class World:
    net: EmbeddedNetwork
    providers: dict[str, Provider]
    patient: SyntheticPatient
    local: str  # Patient/<id> at every holder
    held: dict[str, list[dict[str, Any]]]  # org -> resources loaded

    async def everything(self, org: str = "Org1", query: str = "", **headers: str) -> Any:
        path = f"/{self.local}/$everything{query}"
        response = await self.providers[org].get(path, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def flush(self) -> None:
        for provider in self.providers.values():
            await provider.ledger.flush()
        await settle(self.net)

    def query(self, contract: str, function: str, args: list[Any], org: str = "Org1") -> Any:
        return self.providers[org].ledger.session.query(contract, function, args)


@asynccontextmanager
async def world(consortium: ConsortiumConfig, *, enrol: bool = True) -> AsyncIterator[World]:
    async with running(consortium, contracts=()) as net:
        await approve_contracts(net)
        providers = open_providers(net, list(ROLES.values()))
        try:
            local, split = demo_records()
            held = {ROLES[role]: resources for role, resources in split.items()}
            for org, resources in held.items():
                await asyncio.to_thread(
                    process_bundle, providers[org].service, transaction_bundle(resources)
                )
            patient = SyntheticPatient()
            await patient.anchor(net, "Org1")
            if enrol:
                for provider in providers.values():
                    await patient.register_with(provider, local)
            w = World(net, providers, patient, local, held)
            await w.flush()
            yield w
        finally:
            await close_providers(providers)


def entries_of(bundle: Any) -> list[Any]:
    return [e for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]


def outcome_of(bundle: Any) -> str:
    texts = [
        issue.get("diagnostics", "")
        for e in bundle.get("entry", [])
        if e["resource"]["resourceType"] == "OperationOutcome"
        for issue in e["resource"]["issue"]
    ]
    return " | ".join(texts)


def sources(entry: Any) -> list[str]:
    return [x["valueString"] for x in entry.get("extension", []) if "source" in x["url"]]
