"""``careledger bench incentives --network DIR``: awards end to end through a running
``network up`` consortium, with plain transfers on the same network as the same-run baseline.

The first organisation sponsors (its node runs the awarder: ``[incentives] awarder = true``, as
``network up`` configures every node), the second anchors an immunization issuer DID and
accredits it in the trust registry, and with ``auditor`` the sponsor node's ``auditor_url``
organisation co-signs every award from its own node (its co-signer re-verifies the credential).
Credentials are issued before the clock starts. Each award is one signed
``POST /v1/incentives/campaigns/{id}/awards`` to the sponsor's node: the node verifies the
credential against its own peer (DID, trust registry), checks the holder proof, computes the
keyed digests, asks the auditor node to co-sign over HTTP, and the award is endorsed by the
network's policy, ordered by the NATS cluster and committed before the answer comes back.

Awards and transfers (:func:`careledger.bench.network.run_network_bench`, same concurrency, 32
fresh accounts per transfer in flight so that few conflict) run interleaved in ``rounds``
rounds, so both see the same machine load; the figures are their totals.
``network_cpu_ms_per_award`` is the CPU (user + system) each node process, NATS server and this
client spent per award during the award phases, as ``bench network`` reports per transfer.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import msgspec

from careledger.api.client import NodeClient
from careledger.api.codec import b64e
from careledger.bench.network import (
    _pid_names,
    _process_cpu,
    approve_contract,
    run_network_bench,
    running_network,
)
from careledger.bench.report import latency_ms
from careledger.contracts import dids, trust_registry
from careledger.contracts.dids import did_for_key, operation_payload
from careledger.contracts.incentives import NAMESPACE
from careledger.credentials.credential_types import IMMUNIZATION, issue_credential
from careledger.credentials.data_integrity import Cryptosuite
from careledger.daemon.config import load_node_config
from careledger.errors import CareLedgerError
from careledger.identity.did.keys import Ed25519Signer
from careledger.incentives.story import CONTRACTS, FLU_VACCINE, flu_spec
from careledger.incentives.wallet import MemberWallet
from careledger.netctl.layout import NetworkLayout, NetworkSpec

RULE = "flu-shot"


def _auditor(layout: NetworkLayout, spec: NetworkSpec, sponsor: str) -> str | None:
    """The organisation whose node the sponsor's node asks to co-sign (its ``auditor_url``)."""
    url = load_node_config(layout.node_config(sponsor)).incentives.auditor_url.rstrip("/")
    return next((o for o in spec.orgs if o != sponsor and spec.url(o) == url), None)


async def _converged(clients: dict[str, NodeClient], timeout: float = 60.0) -> None:
    """Wait until every node has committed what the highest one has."""
    heights = [(await c.state()).height for c in clients.values()]
    deadline = time.monotonic() + timeout
    for org, client in clients.items():
        while (await client.state()).height < max(heights):
            if time.monotonic() > deadline:
                raise CareLedgerError(f"the node of {org} lags behind the others")
            await asyncio.sleep(0.05)


async def _issuer(admin: NodeClient, issuer: Ed25519Signer) -> str:
    """Anchor ``issuer``'s DID, bind it to the admin's organisation and accredit it for
    immunization credentials; returns the DID."""
    key = issuer.public_key.multikey
    did = did_for_key(key)
    payload = operation_payload(did, "create", {"key": key, "services": []}, 0)
    await admin.submit(dids.NAMESPACE, "create", [key, [], issuer.sign(payload)], retries=0)
    binding = trust_registry.binding_payload(did, admin.identity.org, 1)
    await admin.submit(trust_registry.NAMESPACE, "bind_issuer", [did, issuer.sign(binding)])
    await admin.submit(trust_registry.NAMESPACE, "accredit", [did, IMMUNIZATION.name])
    return did


def _body(credential: dict[str, Any], patient: Ed25519Signer, campaign: str) -> dict[str, Any]:
    wallet = MemberWallet()
    proof = wallet.holder_proof(patient, campaign, RULE)
    return {
        "rule": RULE,
        "member_key": wallet.member_key(campaign),
        "credential": credential,
        "holder": {
            "verification_method": proof.verification_method,
            "signature": b64e(proof.signature),
        },
    }


async def run_network_awards(
    directory: Path,
    *,
    awards: int = 300,
    concurrency: int = 32,
    auditor: bool = True,
    rounds: int = 2,
) -> dict[str, Any]:
    """Figures of awards through a running network and the same-run transfer baseline."""
    if awards < rounds or concurrency < 1 or rounds < 1:
        raise CareLedgerError("awards ≥ rounds ≥ 1 and concurrency ≥ 1")
    net = running_network(directory)
    layout, spec, config, verify = net.layout, net.spec, net.config, net.verify
    sponsor = spec.orgs[0]
    issuer_org = spec.orgs[1 % len(spec.orgs)]
    cosigning = _auditor(layout, spec, sponsor) if auditor else None
    if auditor and cosigning is None:
        raise CareLedgerError(
            f"the node of {sponsor} names no auditor node ([incentives] auditor_url); "
            "use --no-auditor"
        )
    # Letters only: a run of five digits in a ledger key reads as PHI to the guard.
    campaign = "flu-net-" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))
    batches = [awards // rounds + (1 if r < awards % rounds else 0) for r in range(rounds)]
    async with AsyncExitStack() as stack:

        async def client(org: str, member: str) -> NodeClient:
            return await stack.enter_async_context(
                NodeClient(spec.url(org), config.member(org, member), timeout=600, verify=verify)
            )

        admins = {org: await client(org, "admin") for org in spec.orgs}
        for name in CONTRACTS:
            await approve_contract(spec, admins, name, 60.0)
        allowed = await admins[sponsor].evaluate("incentives", "sponsors", [])
        if sponsor not in {s["org"] for s in allowed}:
            motion = (
                await admins[sponsor].submit(NAMESPACE, "propose_sponsor", [sponsor, 10**12])
            ).result
            for org in spec.orgs[1:]:
                if motion["status"] == "applied":
                    break
                await _converged(admins)
                motion = (
                    await admins[org].submit(NAMESPACE, "approve_sponsor", [motion["id"]])
                ).result
        issuer = Ed25519Signer()
        did = await _issuer(admins[issuer_org], issuer)
        budget = max(awards * 1_000 * 8, 1_000_000)
        flu = msgspec.structs.replace(flu_spec(campaign, cosigning, budget=budget), shards=1024)
        await admins[sponsor].submit(NAMESPACE, "create_campaign", [msgspec.to_builtins(flu)])
        await _converged(admins)
        prepared = []
        for _ in range(awards):
            patient = Ed25519Signer()
            shot = issue_credential(
                IMMUNIZATION,
                issuer,
                f"{did}#key-1",
                patient.did_key,
                {
                    **FLU_VACCINE,
                    "occurrenceDate": time.strftime("%Y-%m-%d", time.gmtime()),
                    "lotNumber": "LOT-NET",
                    "performerId": did,
                },
                suite=Cryptosuite.EDDSA_JCS_2022,
            )
            prepared.append(_body(shot, patient, campaign))
        shards = max(1, min(8, concurrency // 4))
        path = f"/v1/incentives/campaigns/{campaign}/awards"
        latencies: list[float] = []
        outcomes: dict[str, int] = {}
        award_seconds = 0.0
        transfers = committed = 0
        transfer_seconds = 0.0
        gate = asyncio.Semaphore(concurrency)

        async def one(awarder: NodeClient, body: dict[str, Any]) -> None:
            async with gate:
                began = time.perf_counter()
                answer = await awarder.call("POST", path, body)
                latencies.append(time.perf_counter() - began)
                key = answer["status"] if answer["code"] is None else str(answer["code"])
                outcomes[key] = outcomes.get(key, 0) + 1

        done = 0
        names = _pid_names(layout)
        cpu: dict[str, float] = {}
        for size in batches:
            batch = prepared[done : done + size]
            # Fresh connections each round: the node closes ones left idle by the transfers.
            async with AsyncExitStack() as round_clients:
                awarders = [
                    await round_clients.enter_async_context(
                        NodeClient(
                            spec.url(sponsor),
                            config.member(sponsor, "client0"),
                            timeout=600,
                            verify=verify,
                        )
                    )
                    for _ in range(shards)
                ]
                for awarder in awarders:
                    await awarder.state()  # connect before the clock starts
                before = _process_cpu(layout, names)
                began = time.perf_counter()
                await asyncio.gather(*(one(awarders[i % shards], b) for i, b in enumerate(batch)))
                award_seconds += time.perf_counter() - began
                after = _process_cpu(layout, names)
            for name in after.keys() & before.keys():
                cpu[name] = cpu.get(name, 0.0) + after[name] - before[name]
            done += size
            baseline = await run_network_bench(
                layout,
                transactions=size,
                concurrency=concurrency,
                accounts=max(100, 32 * concurrency),  # few transfers conflict (MVCC)
                nats_messages=0,
            )
            transfers += baseline.committed_valid
            committed += baseline.transactions
            transfer_seconds += baseline.seconds
    awarded = outcomes.get("awarded", 0)
    rate = round(awarded / award_seconds, 1) if award_seconds else 0.0
    baseline_rate = round(transfers / transfer_seconds, 1) if transfer_seconds else 0.0
    return {
        "network_orgs": len(spec.orgs),
        "network_auditor": cosigning,
        "network_awards": awards,
        "network_awarded": awarded,
        "network_refused": {k: v for k, v in outcomes.items() if k != "awarded"},
        "network_awards_per_s": rate,
        **latency_ms(latencies, "network_award"),
        "network_transfers": committed,
        "network_transfers_valid": transfers,
        "network_transfers_per_s": baseline_rate,
        "network_ratio_to_transfers": round(rate / baseline_rate, 3) if baseline_rate else None,
        "network_rounds": rounds,
        "network_cpu_ms_per_award": {
            name: round(seconds * 1000 / awarded, 2) for name, seconds in sorted(cpu.items())
        }
        if awarded
        else {},
    }
