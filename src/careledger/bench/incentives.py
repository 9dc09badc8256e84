"""``careledger bench incentives``: awards of care points, end to end.

Three figures:

* **End to end** on the embedded consortium (Hospital issues, Payer sponsors, Lab audits when
  ``auditor``): each award verifies a real immunization credential against the ledger (issuer
  DID, trust registry, status list), checks the holder proof, computes the keyed digests, gets
  the auditor's co-signature (its own verification), and is endorsed, ordered and committed.
  Awards/s and latency p50/p99 (request → commit at the sponsor's peer). Credentials are issued
  before the clock starts. Concurrent awards share transactions (``award_batch``, up to
  ``max_batch`` awards each; :mod:`careledger.incentives.batching`); the report gives the
  awards per transaction, the process's CPU time per award (all peers, the orderer, the awarder
  and the auditor share it, so it is steadier than awards/s on a shared machine) and the share
  of the wall time spent checking evidence.
* **Nullifier and cap checks** against a SQLite world state holding 10,000 and 100,000 member
  accounts (with as many used nullifiers and holder bindings): the contract's ``check_award``
  decision — nullifier lookup, holder binding, the account and its caps, the budget tranche —
  timed per call. Every lookup is a point read of one key, so the cost should not grow with the
  number of members; the two figures show whether it does.
* **Baseline, same run**: plain read-modify-write transfers on a fresh embedded consortium of the
  same shape (:func:`careledger.bench.ledger.run_ledger_bench`, as many transactions as awards) —
  what the ledger does for a transaction that verifies no credential; the ratio shows what
  evidence checks and co-signing cost (an ERC-20 transfer on a 4-validator Besu QBFT network
  runs 520 to 645 tx/s in Caliper, the issue's anchor).
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from careledger.bench.ledger import run_ledger_bench
from careledger.bench.report import BenchReport, percentile
from careledger.contracts.incentives import Incentives, pseudonym_of
from careledger.contracts.incentives.batch import MAX_BATCH
from careledger.contracts.incentives.terms import (
    AwardRecord,
    Campaign,
    HolderBinding,
    MemberAccount,
    Tranche,
    year_of,
)
from careledger.contracts.values import encode_value
from careledger.crypto.keys import SigningKey
from careledger.endorsement.simulator import Simulation
from careledger.identity.did.keys import Ed25519Signer
from careledger.identity.msp import Role, enrol
from careledger.incentives.awarding import AuditorCosigner
from careledger.incentives.batching import AwardBatcher
from careledger.incentives.evidence import CredentialEvidence
from careledger.incentives.sponsors import create_campaign
from careledger.incentives.story import flu_spec, prepare
from careledger.incentives.wallet import MemberWallet
from careledger.ledger.state.base import BlockUpdate, StateWrite
from careledger.ledger.state.sqlite import SQLiteStateStore
from careledger.node.consortium import init_consortium
from careledger.node.network import EmbeddedNetwork
from careledger.ordering.base import CutterConfig

ORGS = ["Hospital", "Lab", "Payer"]


@dataclass
class IncentivesBenchReport:
    awards: int
    awarded: int
    rejected: int
    seconds: float
    awards_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    auditor: bool
    check_us: dict[str, float]
    """Mean µs of one nullifier + holder + cap + tranche check, by number of members."""
    ledger_transfers_per_s: float = 0.0
    """Baseline measured in the same run: plain transfers on the same consortium shape."""
    cpu_ms_per_award: float = 0.0
    """CPU time of the process (all three peers, the orderer, the awarder and the auditor)
    during the awards, per award: steadier than awards/s on a shared machine."""
    evidence_share: float = 0.0
    """Share of the awards' wall time spent checking evidence (sponsor and auditor, on the
    same event loop as the peers)."""
    max_batch: int = 1
    awards_per_transaction: float = 0.0
    """Awards per ``award``/``award_batch`` transaction (concurrent awards share one)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def report(self) -> BenchReport:
        title = "careledger bench incentives (embedded consortium)"
        return BenchReport(title, self.as_dict(), "awards_per_s", "ledger_transfers_per_s")


@dataclass
class _Phase:
    """What the timed award phase measured."""

    awarded: int
    rejected: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float
    evidence_seconds: float
    transactions: int


async def _end_to_end(
    directory: Path, awards: int, concurrency: int, auditor: bool, max_batch: int = 64
) -> _Phase:
    # The cutter of `careledger bench ledger`: blocks of up to 500 transactions or 100 ms.
    cutter = CutterConfig(max_tx_count=500, batch_timeout=0.1)
    config = init_consortium(directory, ORGS, cutter=cutter)
    net = EmbeddedNetwork(config)
    await net.start()
    try:
        cast = await prepare(
            net,
            sponsor="Payer",
            issuer_org="Hospital",
            auditor="Lab" if auditor else None,
            did_cache_seconds=60.0,  # a verifier's usual DID cache; keys rotate rarely
        )
        # Tranches much larger than an award: an award that must spill over several tranches
        # (a campaign near exhaustion) reads and writes more keys and conflicts more.
        budget = max(awards * 1_000 * 8, 1_000_000)
        spec = flu_spec("flu-bench", "Lab" if auditor else None, budget=budget)
        spec = _with(spec, shards=1024)
        await create_campaign(net.gateway("Payer", "admin"), spec)
        prepared = []
        for _ in range(awards):
            patient, wallet = Ed25519Signer(), MemberWallet()
            shot, _ = cast.immunization(patient, revocable=False)
            proof = wallet.holder_proof(patient, spec.id, "flu-shot")
            prepared.append((CredentialEvidence(shot, proof), wallet.member_key(spec.id)))
        awarder = cast.awarder
        awarder.batcher = AwardBatcher(awarder.gateway, max_batch=max_batch)
        checkers = [awarder.checker]
        if isinstance(awarder.cosigner, AuditorCosigner):
            checkers.append(awarder.cosigner.checker)
        gate = asyncio.Semaphore(concurrency)
        latencies: list[float] = []
        outcomes: list[bool] = []

        async def one(evidence: CredentialEvidence, key: str) -> None:
            async with gate:
                started = time.perf_counter()
                done = await cast.awarder.award(spec.id, "flu-shot", evidence, key)
                latencies.append(time.perf_counter() - started)
                outcomes.append(done.awarded)

        checked = sum(c.seconds for c in checkers)
        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(one(e, k) for e, k in prepared))
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        for undo in cast.unfollow:
            undo()
        return _Phase(
            sum(outcomes),
            len(outcomes) - sum(outcomes),
            seconds,
            latencies,
            cpu,
            sum(c.seconds for c in checkers) - checked,
            awarder.batcher.transactions,
        )
    finally:
        await net.stop()


def _with(spec: Any, **changes: Any) -> Any:
    fields = {f: getattr(spec, f) for f in spec.__struct_fields__}
    return type(spec)(**{**fields, **changes})


def check_cost(members: int, checks: int, directory: Path) -> float:
    """Mean µs of the contract's award check with ``members`` accounts in a SQLite state."""
    now = int(time.time() * 1000)
    spec = _with(flu_spec("flu-scale", None, budget=10**8, now_ms=now), shards=256)
    store = SQLiteStateStore(directory / f"state-{members}.db")
    try:
        ns = Incentives.name
        writes = [
            StateWrite(
                ns,
                "campaign/flu-scale",
                encode_value(Campaign(spec, "Payer", now, "ab" * 32), Campaign),
                (0, 0),
                "",
            )
        ]
        for k in range(spec.shards):
            tranche = encode_value(Tranche(10**8 // spec.shards), Tranche)
            writes.append(StateWrite(ns, f"tranche/flu-scale/{k:04d}", tranche, (0, 0), ""))
        keys: list[str] = []
        year = year_of(now)
        rng = random.Random(members)
        for i in range(members):
            key = rng.randbytes(32).hex()
            pseudonym = pseudonym_of(bytes.fromhex(key))
            keys.append(key)
            account = MemberAccount(key, 500, 1_000, 500, 0, 0, year, 1_000)
            record = AwardRecord(pseudonym, "flu-shot", 1_000, "cd" * 32, now, "ef" * 32)
            tag = rng.randbytes(32).hex()
            used = rng.randbytes(32).hex()
            for key_name, value in (
                (f"member/flu-scale/{pseudonym}", encode_value(account, MemberAccount)),
                (f"award/flu-scale/{used}", encode_value(record, AwardRecord)),
                (f"holder/flu-scale/{tag}", encode_value(HolderBinding(pseudonym), HolderBinding)),
            ):
                writes.append(StateWrite(ns, key_name, value, (0, i), ""))
        store.commit(BlockUpdate(0, writes))
        contract = Incentives()
        creator = enrol(SigningKey.generate(), "Payer", "bench", Role.CLIENT, 1, 0).cert
        started = time.perf_counter()
        for _ in range(checks):
            sim = Simulation(
                store, contract, tx_id="", timestamp=0, creator=creator, read_only=True
            )
            key = rng.choice(keys)
            args = ["flu-scale", key, "booster", rng.randbytes(32).hex(), 100, "ab" * 32, now]
            contract.call(sim, "check_award", args, "query")
        return (time.perf_counter() - started) / checks * 1e6
    finally:
        store.close()


def run(
    awards: int = 500,
    concurrency: int = 64,
    auditor: bool = True,
    member_counts: tuple[int, ...] = (10_000, 100_000),
    checks: int = 2_000,
    max_batch: int = 64,
) -> IncentivesBenchReport:
    """Run both measurements in a temporary directory; returns the report. ``max_batch``:
    awards per transaction at most (the awarder groups concurrent awards; 1: one each)."""
    if awards < 1 or concurrency < 1 or checks < 1:
        raise ValueError("awards, concurrency and checks must be positive")
    if not 1 <= max_batch <= MAX_BATCH:
        raise ValueError(f"max_batch is 1 to {MAX_BATCH}")
    with tempfile.TemporaryDirectory(prefix="careledger-bench-incentives-") as tmp:
        root = Path(tmp)
        phase = asyncio.run(_end_to_end(root / "net", awards, concurrency, auditor, max_batch))
        awarded, seconds, latencies = phase.awarded, phase.seconds, phase.latencies
        costs = {f"{n}": round(check_cost(n, checks, root), 1) for n in member_counts}
        baseline = asyncio.run(
            run_ledger_bench(
                transactions=max(awards, 100), concurrency=concurrency, accounts=awards * 4 + 100
            )
        )
    return IncentivesBenchReport(
        awards=awards,
        awarded=awarded,
        rejected=phase.rejected,
        seconds=round(seconds, 3),
        awards_per_s=round(awarded / seconds, 1) if seconds else 0.0,
        latency_p50_ms=round(percentile(latencies, 0.5) * 1000, 2),
        latency_p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
        auditor=auditor,
        check_us=costs,
        ledger_transfers_per_s=baseline.tps,
        cpu_ms_per_award=round(phase.cpu_seconds / awards * 1000, 3),
        evidence_share=round(phase.evidence_seconds / seconds, 3) if seconds else 0.0,
        max_batch=max_batch,
        awards_per_transaction=round(awards / phase.transactions, 1) if phase.transactions else 0,
    )


if __name__ == "__main__":  # pragma: no cover - a quick manual run
    print(run(awards=int(os.environ.get("AWARDS", "300"))).as_dict())
