"""A populated demo consortium for the web UI: what ``careledger demo --serve`` can show and what
``scripts/ui_screenshots.py`` photographs. Everything is synthetic.

:func:`populate` runs on an :class:`~careledger.node.network.EmbeddedNetwork` (organisations
Hospital, Lab, Payer): governance enables the FHIR contracts, each organisation's FHIR store
gets the demo patient's records (:func:`careledger.sim.demo_fhir.demo_records`), the patient
anchors a DID, enrols at all three and consents to Hospital for treatment; Hospital then reads
the record once (so the access log has entries), an SD-JWT coverage credential is put in the
patient's wallet and a flu-shot campaign rewards the patient with care points. The result plugs
into :func:`careledger.web.demo.serve_demo` (``serve_demo(net, providers=population.providers,
patients=[population.patient])``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from careledger.credentials.credential_types import INSURANCE_COVERAGE, issue_sd_jwt_vc
from careledger.credentials.sd_jwt import holder_jwk
from careledger.credentials.wallet import Wallet
from careledger.fhir.bundles import process_bundle
from careledger.identity.did.keys import Ed25519Signer
from careledger.incentives.story import flu_shot_campaign
from careledger.payer.pas.service import PriorAuthService
from careledger.payer.pas.store import MemoryPasStore
from careledger.sim.demo_fhir import (
    Provider,
    SyntheticPatient,
    approve_contracts,
    demo_records,
    open_providers,
)
from careledger.sim.payer_workload import pas_request
from careledger.sim.synthetic_fhir import transaction_bundle
from careledger.web.context import PayerBackend
from careledger.web.demo import DemoPatient, DemoUi, serve_demo

if TYPE_CHECKING:
    from careledger.node.network import EmbeddedNetwork

#: The demo wallet's passphrase; a low scrypt cost, the wallet file holds synthetic keys only.
PASSPHRASE = "demo-only passphrase"
COVERAGE = {
    "memberId": "M-7F3A-0042",
    "planId": "GOLD-PPO",
    "planName": "Gold PPO",
    "payerName": "Example Health Plan",
}


PAYER_SECRET = b"demo-ui-payer-member-secret-32by"


@dataclass
class DemoPopulation:
    providers: dict[str, Provider]
    patient: DemoPatient
    local: str  # Patient/<id> at every holder
    payers: dict[str, PayerBackend] = field(default_factory=dict)
    """Organisations' payer sides for their payer desks (Payer's)."""


async def prior_authorizations(net: EmbeddedNetwork, payer: str, provider: str) -> PayerBackend:
    """``provider`` asks ``payer`` for three prior authorizations (synthetic member); the payer
    approves the first, denies the second with a reason and leaves the third pended. Returns the
    payer's side (its PAS service) for the payer desk."""
    await approve_contracts(net, ("prior_auth",))
    service = PriorAuthService(net.gateway(payer, "client0"), MemoryPasStore(), PAYER_SECRET)
    numbers = []
    for code, priority in (("72148", "standard"), ("97110", "standard"), ("70553", "expedited")):
        bundle = pas_request(payer=payer, member_system="urn:careledger:member",
                             member_id=COVERAGE["memberId"], code=code, provider=provider,
                             patient_name=("Rivera", "Ana"))  # fmt: skip
        if priority == "expedited":
            bundle["entry"][0]["resource"]["priority"] = {"coding": [{"code": "stat"}]}
        answer = await service.submit(msgspec.json.encode(bundle), provider)
        numbers.append(answer["entry"][0]["resource"]["preAuthRef"])
    await service.decide(numbers[0], msgspec.json.encode({"action": "A1"}))
    denial = {"action": "A3", "reasons": ["0U"], "text": "Conservative therapy first."}
    await service.decide(numbers[1], msgspec.json.encode(denial))
    return PayerBackend(service)


async def populate(
    net: EmbeddedNetwork,
    directory: Path,
    *,
    records: tuple[str, dict[str, list[dict[str, Any]]]] | None = None,
    rewards: bool = True,
) -> DemoPopulation:
    """Contracts, FHIR data, an enrolled and consenting patient with a credential (see above).
    ``records``: (``Patient/<id>``, each organisation's resources) instead of the demo's record
    (``careledger bench ui`` gives 1,000 resources)."""
    orgs = list(net.config.org_ids)[:3]
    await approve_contracts(net)
    providers = open_providers(net, orgs, directory)
    local, held = records if records is not None else demo_records()
    for org, items in held.items():
        if org in providers:
            await asyncio.to_thread(
                process_bundle, providers[org].service, transaction_bundle(items)
            )
    wallet = Wallet.create(directory / "patient-wallet.json", PASSPHRASE, scrypt_n=2**12)
    key = wallet.new_key("patient")
    patient = SyntheticPatient(signer=key)
    await patient.anchor(net, orgs[0])
    for provider in providers.values():
        await patient.register_with(provider, local)
    await patient.grant(net, orgs[0], orgs[0])
    await (await _settled(net, providers))[orgs[0]].get(f"/{local}/$everything")
    issuer = Ed25519Signer()
    token = issue_sd_jwt_vc(
        INSURANCE_COVERAGE,
        issuer,
        issuer.did_key_verification_method,
        {**COVERAGE, "payerId": issuer.did_key,
         "coverageStart": datetime.now(UTC).date().isoformat()},
        holder_jwk(key),
        lifetime=timedelta(days=365).total_seconds(),
    )  # fmt: skip
    wallet.add_sd_jwt(token)
    wallet.save()
    for provider in providers.values():
        await provider.ledger.flush()
    points = None
    if rewards:  # a flu-shot campaign rewarded the patient (careledger.incentives.story)
        story = await flu_shot_campaign(
            net, sponsor=orgs[2], clinic=orgs[0], auditor=orgs[1], campaign="flu-demo"
        )
        points = story.wallet
    payers = {orgs[2]: await prior_authorizations(net, orgs[2], orgs[0])}
    return DemoPopulation(providers, DemoPatient(patient.did, key, wallet, points), local, payers)


async def _settled(net: EmbeddedNetwork, providers: dict[str, Provider]) -> dict[str, Provider]:
    assert net.orderer is not None
    async with asyncio.timeout(10):
        while net.orderer.cutter.pending:
            await asyncio.sleep(0.005)
    await net.wait_height(net.orderer.height, timeout=10)
    return providers


@dataclass
class DemoUiSession:
    """A populated demo consortium with its UI served; ``close()`` stops all of it."""

    net: EmbeddedNetwork
    population: DemoPopulation
    ui: DemoUi

    @property
    def url(self) -> str:
        return self.ui.url

    async def wait(self) -> None:
        await self.ui.wait()

    async def close(self) -> None:
        try:
            await self.ui.close()
            for provider in self.population.providers.values():
                await provider.client.aclose()
                provider.service.store.close()
        finally:
            await self.net.stop()


async def open_demo_ui(directory: Path, *, org: str = "Hospital", port: int = 0) -> DemoUiSession:
    """A fresh demo consortium (Hospital, Lab, Payer) in ``directory``, populated, with
    ``org``'s UI served on 127.0.0.1 — what ``careledger demo --serve`` needs: print
    ``session.url``, ``await session.wait()`` until Ctrl-C, then ``await session.close()``."""
    from careledger.node.consortium import init_consortium
    from careledger.node.network import EmbeddedNetwork

    init_consortium(directory / "consortium", ["Hospital", "Lab", "Payer"], name="demo-ui")
    net = EmbeddedNetwork.open(directory / "consortium")
    await net.start()
    try:
        population = await populate(net, directory)
        ui = await serve_demo(
            net, org=org, providers=population.providers, patients=[population.patient],
            payers=population.payers, port=port,
        )  # fmt: skip
    except BaseException:
        await net.stop()
        raise
    return DemoUiSession(net, population, ui)
