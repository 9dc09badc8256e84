"""The interoperability chapter of ``careledger demo``: one patient, many providers.

Steps have the shape of :class:`careledger.sim.story.Chapter`. The story: governance approves the
``locator``, ``consent`` and ``audit`` contracts; a patient anchors a DID and registers with three
organisations (each indexes what it holds on the record locator); the patient consents to one of
them, which assembles the longitudinal record from every holder, verified against the ledger; a
request without consent is refused; the patient revokes and the next request is refused too;
the patient reads the accounting of disclosures; the patient asks one provider to erase their
data. Everything is synthetic.

:func:`open_providers` and :class:`SyntheticPatient` wire FHIR services to an embedded network in
one process (the FHIR APIs talk over httpx's ASGI transport); the tests and ``careledger bench
fhir`` use them too.
"""

from __future__ import annotations

import asyncio
import copy
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from careledger.contracts.consent import ConsentTerms, grant_payload, revoke_payload
from careledger.contracts.record_locator import handle_message, patient_handle
from careledger.credentials.ledger import LedgerDidRegistry
from careledger.fhir.api import create_app
from careledger.fhir.bundles import process_bundle
from careledger.fhir.service import FhirService
from careledger.fhir.store.envelope import MasterKey
from careledger.fhir.store.sqlite import SQLiteResourceStore
from careledger.fhir.validation_pool import ValidationPool
from careledger.identity.did.keys import Ed25519Signer
from careledger.longitudinal.accounting import accounting_of_disclosures
from careledger.longitudinal.everything import (
    DID_SYSTEM,
    ORG_HEADER,
    HolderEndpoint,
    LongitudinalRecord,
    org_header_requester,
)
from careledger.longitudinal.ledger import ProviderLedger, enrolment_payload
from careledger.node.network import EmbeddedNetwork
from careledger.sim.story import Chapter, DemoContext, Step
from careledger.sim.synthetic_fhir import generate, split_by_provider, transaction_bundle

CONTRACTS = ("dids", "locator", "consent", "audit")
CONTRACT_POLICY = "MAJORITY"
DAY_MS = 86_400_000


@dataclass
class Provider:
    """One organisation's FHIR side, attached to the ledger."""

    org: str
    service: FhirService
    ledger: ProviderLedger
    record: LongitudinalRecord
    client: httpx.AsyncClient  # to this provider's FHIR API
    base_url: str

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(f"{self.base_url}{path}", **kwargs)

    async def as_org(self, org: str, path: str, **headers: str) -> httpx.Response:
        """A request from another organisation (identified as in-process consortia do)."""
        return await self.client.get(f"{self.base_url}{path}", headers={ORG_HEADER: org, **headers})


async def approve_contracts(
    net: EmbeddedNetwork, names: tuple[str, ...] = CONTRACTS, policy: str = CONTRACT_POLICY
) -> list[str]:
    """Propose and approve (by a majority of admins) each contract not yet enabled."""
    orgs = list(net.config.org_ids)
    done = []
    for name in names:
        if net.peers[orgs[0]].validator.definition(name) is not None:
            continue
        change = {"name": name, "version": "1.0", "policy": policy}
        proposed = await net.gateway(orgs[0], "admin").submit(
            "_gov", "propose", ["contract", change]
        )
        status = proposed.result.get("status")
        for org in orgs[1:]:
            if status == "applied":
                break
            approved = await net.gateway(org, "admin").submit(
                "_gov", "approve", [proposed.result["id"]]
            )
            status = approved.result["status"]
        done.append(name)
    await settle(net)
    return done


async def settle(net: EmbeddedNetwork) -> None:
    assert net.orderer is not None
    while net.orderer.cutter.pending:
        await asyncio.sleep(0.002)
    await asyncio.sleep(0)
    await net.wait_height(net.orderer.height, timeout=10)


def open_providers(
    net: EmbeddedNetwork,
    orgs: list[str],
    directory: Path | None = None,
    *,
    validation: ValidationPool | None = None,
) -> dict[str, Provider]:
    """A FHIR service, ledger listener/policy and ``$everything`` for each of ``orgs`` (call it
    on the network's event loop). Stores are SQLite files in ``directory`` (default: memory).
    ``validation``: a pool the services validate Bundles in (the caller closes it)."""
    providers: dict[str, Provider] = {}
    holders: dict[str, HolderEndpoint] = {}
    for org in orgs:
        path: str | Path = ":memory:" if directory is None else directory / f"{org}-fhir.sqlite"
        store = SQLiteResourceStore(path, MasterKey(os.urandom(32)))
        base = f"http://{org.lower()}.fhir.test"
        service = FhirService(store, base_url=base, validation=validation)
        ledger = ProviderLedger(net.gateway(org), secrets.token_bytes(32))
        service.listener, service.policy = ledger, ledger
        ledger.reconcile(service)  # as a node does at start (a fresh store: nothing to replay)
        record = LongitudinalRecord(service, ledger, holders)
        app = create_app(service, requester=org_header_requester, everything=record)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        providers[org] = Provider(org, service, ledger, record, client, base)
        holders[org] = HolderEndpoint(base, client)
    for provider in providers.values():
        provider.record.holders.update(holders)
    return providers


async def close_providers(providers: dict[str, Provider]) -> None:
    for provider in providers.values():
        await provider.ledger.flush()
        await provider.client.aclose()
        provider.service.store.close()


@dataclass
class SyntheticPatient:
    """A patient's wallet in miniature: a DID key, the locator handle, signed operations."""

    signer: Ed25519Signer = field(default_factory=Ed25519Signer)
    did: str = ""
    handle: str = ""

    async def anchor(self, net: EmbeddedNetwork, org: str) -> str:
        self.did = await LedgerDidRegistry(net.gateway(org)).create(self.signer)
        self.handle = patient_handle(self.signer.sign(handle_message(self.did)))
        return self.did

    async def register_with(self, provider: Provider, patient: str) -> int:
        """Enrol at ``provider`` as its local ``patient``; returns resources indexed."""
        signature = self.signer.sign(enrolment_payload(self.did, self.handle, provider.org))
        return await provider.ledger.enrol(
            provider.service, patient, self.did, self.handle, signature
        )

    def consent_args(
        self,
        grantee: str,
        *,
        purposes: tuple[str, ...] = ("TREAT",),
        classes: tuple[str, ...] = ("*",),
        sensitive: tuple[str, ...] = (),
        days: int = 365,
        start_ms: int | None = None,
    ) -> list[Any]:
        start = int(time.time() * 1000) - 60_000 if start_ms is None else start_ms
        terms = msgspec.convert(
            {
                "grantee": grantee,
                "purposes": list(purposes),
                "classes": list(classes),
                "sensitive": list(sensitive),
                "start": start,
                "end": start + days * DAY_MS,
                "nonce": secrets.token_hex(16),
            },
            ConsentTerms,
        )
        signature = self.signer.sign(grant_payload(self.did, terms))
        return [self.did, msgspec.to_builtins(terms), signature]

    async def grant(self, net: EmbeddedNetwork, org: str, grantee: str, **kw: Any) -> str:
        done = await net.gateway(org).submit("consent", "grant", self.consent_args(grantee, **kw))
        return str(done.result["id"])

    async def revoke(self, net: EmbeddedNetwork, org: str, consent_id: str) -> None:
        signature = self.signer.sign(revoke_payload(self.did, consent_id))
        await net.gateway(org).submit("consent", "revoke", [self.did, consent_id, signature])


def demo_records(seed: int = 11) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """One synthetic patient's resources split over Hospital, Lab and Payer (each also holds
    a copy of the Patient); returns the local patient reference and the split."""
    resources = generate(1, seed)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    split = split_by_provider(resources)
    held = {
        "Hospital": split.get("org-hospital", [])
        + [r for r in split.get("org-clinic", []) if r["resourceType"] != "Patient"],
        "Lab": split.get("org-lab", []),
        "Payer": split.get("org-payer", []),
    }
    for org, items in held.items():
        if not any(r["resourceType"] == "Patient" for r in items):
            held[org] = [copy.deepcopy(patient), *items]
    return f"Patient/{patient['id']}", held


# --- the story --------------------------------------------------------------------------------


@dataclass
class FhirCast:
    providers: dict[str, Provider]
    patient: SyntheticPatient
    local: str  # Patient/<id>, the same id at every holder in the synthetic data
    consent_id: str = ""
    tmp: tempfile.TemporaryDirectory[str] | None = None


def _cast(ctx: DemoContext) -> FhirCast:
    cast = ctx.facts.get("fhir")
    if not isinstance(cast, FhirCast):
        raise RuntimeError("run the FHIR steps in order, from the first one")
    return cast


def _orgs(ctx: DemoContext) -> list[str]:
    return list(ctx.net.config.org_ids)[:3]


async def approve(ctx: DemoContext) -> str:
    done = await approve_contracts(ctx.net)
    tmp = tempfile.TemporaryDirectory(prefix="careledger-demo-fhir-")
    providers = open_providers(ctx.net, _orgs(ctx), Path(tmp.name))
    local, held = demo_records()
    for org, resources in held.items():
        if org in providers:
            await asyncio.to_thread(
                process_bundle, providers[org].service, transaction_bundle(resources)
            )
    ctx.facts["fhir"] = FhirCast(providers, SyntheticPatient(), local, tmp=tmp)
    counts = ", ".join(f"{o} {len(r)}" for o, r in held.items() if o in providers)
    return (
        f"governance enabled {', '.join(done) or 'nothing new'} ({CONTRACT_POLICY}); "
        f"providers loaded synthetic FHIR data ({counts} resources)"
    )


async def register(ctx: DemoContext) -> str:
    cast = _cast(ctx)
    first = _orgs(ctx)[0]
    did = await cast.patient.anchor(ctx.net, first)
    indexed = []
    for org, provider in cast.providers.items():
        indexed.append(f"{org} {await cast.patient.register_with(provider, cast.local)}")
    return (
        f"patient anchored {did[:28]}… and registered with {len(indexed)} providers; locator "
        f"entries (pseudonymous handle, salted hashes, month only): {', '.join(indexed)}"
    )


async def consent_and_assemble(ctx: DemoContext) -> str:
    cast = _cast(ctx)
    requester, *others = _orgs(ctx)
    refused = await cast.providers[others[0]].as_org(
        requester,
        f"/Patient/$everything?identifier={DID_SYSTEM}|{cast.patient.did}",
        **{"x-careledger-purpose": "TREAT"},
    )
    before = (await cast.providers[requester].get(f"/{cast.local}/$everything")).json()
    cast.consent_id = await cast.patient.grant(ctx.net, requester, requester)
    after = (await cast.providers[requester].get(f"/{cast.local}/$everything?_count=1000")).json()
    sources = {
        ext["valueString"]
        for entry in after["entry"]
        for ext in entry.get("extension", [])
        if ext["url"].endswith("source-organization")
    }
    return (
        f"without consent {others[0]} answered {refused.status_code} and {requester}'s record "
        f"had {before['total']} of its own resources; after the patient consented to "
        f"{requester} (TREAT, all but sensitive): {after['total']} resources from "
        f"{', '.join(sorted(sources))}, each verified against its hash on the ledger"
    )


async def revoke(ctx: DemoContext) -> str:
    cast = _cast(ctx)
    requester = _orgs(ctx)[0]
    await cast.patient.revoke(ctx.net, requester, cast.consent_id)
    after = (await cast.providers[requester].get(f"/{cast.local}/$everything")).json()
    return f"patient revoked the consent; from the next block {requester} sees {after['total']}"


async def accounting(ctx: DemoContext) -> str:
    cast = _cast(ctx)
    for provider in cast.providers.values():
        await provider.ledger.flush()
    first = next(iter(cast.providers.values()))
    report = accounting_of_disclosures(first.ledger.session, cast.patient.handle, 0, 2**42)
    disclosed = sum(r.count for r in report.rows if r.action == "disclose")
    denied = sum(r.count for r in report.rows if r.action == "deny")
    return (
        f"accounting of disclosures: {len(report.rows)} audit records — {disclosed} resources "
        f"disclosed, {denied} denied — exported as {len(report.audit_events())} FHIR AuditEvents"
    )


async def erase(ctx: DemoContext) -> str:
    cast = _cast(ctx)
    org = _orgs(ctx)[1]
    provider = cast.providers[org]
    shredded = await asyncio.to_thread(provider.service.erase_patient, cast.local)
    await provider.ledger.flush()
    entries = provider.ledger.session.query("locator", "entries", [cast.patient.handle, [], 0])
    erased = sum(1 for e in entries if e["holder"] == org and e["status"] == "erased")
    await close_providers(cast.providers)
    if cast.tmp is not None:
        cast.tmp.cleanup()
    return (
        f"patient asked {org} to erase: {shredded} resources crypto-shredded, {erased} locator "
        "entries marked erased, the erasure is in the audit trail"
    )


FHIR_STORY: list[Step] = [
    ("Record locator, consent and audit contracts", approve),
    ("A patient registers with three providers", register),
    ("Consent, then the longitudinal record", consent_and_assemble),
    ("Revoking consent", revoke),
    ("Accounting of disclosures", accounting),
    ("Erasure at one provider", erase),
]

FHIR_CHAPTER = Chapter("Interoperability", FHIR_STORY)
