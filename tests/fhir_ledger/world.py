"""A consortium of three providers with FHIR stores on the ledger and one synthetic patient
(:func:`world`); and one provider on files it reopens like after a restart (:func:`holder`).

Org1 plays the hospital, Org2 the lab, Org3 the payer (see ``demo_records``). Used inside each
test's own event loop (``asyncio.run``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from careledger.fhir.bundles import process_bundle
from careledger.fhir.service import FhirService
from careledger.fhir.store.envelope import MasterKey
from careledger.fhir.store.sqlite import SQLiteResourceStore
from careledger.longitudinal.ledger import ProviderLedger, enrolment_payload
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
from careledger.sim.synthetic_fhir import transaction_bundle
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


@dataclass
class Holder:
    """Org1's FHIR store and ledger side, reopened from the same files like after a restart."""

    net: EmbeddedNetwork
    dir: Path
    key: MasterKey
    secret: bytes
    service: FhirService | None = None
    ledger: ProviderLedger | None = None

    def open(self, *, start: bool, reconcile: bool = False) -> tuple[FhirService, ProviderLedger]:
        """Without ``start`` nothing is submitted until a flush; with ``reconcile`` the ledger
        side replays what the outbox missed first, as a node does at start."""
        store = SQLiteResourceStore(self.dir / "fhir.sqlite", self.key)
        service = FhirService(store, base_url="http://org1.fhir.test")
        ledger = ProviderLedger(
            self.net.gateway("Org1"),
            self.secret,
            outbox=self.dir / "fhir.ledger.sqlite",
            start=False,
        )
        service.listener, service.policy = ledger, ledger
        if reconcile:
            ledger.reconcile(service)
        if start:
            ledger.flusher.start()
        self.service, self.ledger = service, ledger
        return service, ledger

    async def crash(self) -> None:
        """Stop without flushing: what is queued stays in the outbox file only."""
        assert self.service is not None
        assert self.ledger is not None
        await self.ledger.flusher.stop()
        self.ledger.outbox.close()
        self.service.store.close()

    def query(self, contract: str, function: str, args: list[Any]) -> Any:
        assert self.ledger is not None
        return self.ledger.session.query(contract, function, args)


@asynccontextmanager
async def holder(consortium: ConsortiumConfig, tmp: Path) -> AsyncIterator[tuple[Holder, str]]:
    async with running(consortium, contracts=()) as net:
        await approve_contracts(net)
        h = Holder(net, tmp, MasterKey(os.urandom(32)), secrets.token_bytes(32))
        service, ledger = h.open(start=True)
        local, split = demo_records()
        await asyncio.to_thread(process_bundle, service, transaction_bundle(split["Hospital"]))
        patient = SyntheticPatient()
        await patient.anchor(net, "Org1")
        signature = patient.signer.sign(enrolment_payload(patient.did, patient.handle, "Org1"))
        assert await ledger.enrol(service, local, patient.did, patient.handle, signature) > 0
        await ledger.flush()
        await ledger.close()
        service.store.close()
        try:
            yield h, local
        finally:
            if h.ledger is not None and h.service is not None:
                await h.ledger.close()
                h.service.store.close()
            await settle(net)


def observation(local: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": local},
        "effectiveDateTime": "2024-05-02T10:00:00Z",
        "valueQuantity": {"value": 72, "unit": "/min"},
    }


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
