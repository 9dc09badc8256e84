"""Plans and claims on a real embedded consortium: endorsed by several organisations, ordered,
committed; no plaintext identifier in world state or blocks; every adjudication re-derived by
re-running the committed transactions against the state each saw."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from careledger.contracts.base import to_plain
from careledger.contracts.payer.model import ClaimParties, iso_day
from careledger.contracts.phi_guard import PhiRejected, check_schema
from careledger.contracts.registry import default_registry
from careledger.crypto.keys import BatchVerifier
from careledger.endorsement.simulator import Simulation
from careledger.ledger.blockstore import BlockStore
from careledger.ledger.codes import ValidationCode
from careledger.ledger.state.memory import MemoryStateStore
from careledger.ledger.transaction import (
    decode_envelope,
    decode_proposal,
    decode_response,
    tx_id_of,
)
from careledger.node.consortium import ConsortiumConfig
from careledger.payer.ledger_form import claim_digest
from careledger.payer.submitting import submit_claims
from careledger.validation.validator import BlockValidator
from tests.harness import assert_consistent, running, world
from tests.payer.factories import (
    JAN1,
    KEYER,
    MEMBER,
    claim,
    coverage,
    line,
    plain,
    plan,
    submission,
)

PARTIES = ClaimParties("W987654321", "Smith", "Jane", birth_date="1984-07-14", gender="F")
NEEDLES = ["PCN-A1", "PCN-B2", "1234567893", "2026-03-02", "S72001A", "W987654321", "Smith",
           "1984-07-14"]  # fmt: skip


def rederive(store: BlockStore) -> int:
    """Re-run every valid ``claims`` transaction against the state before its block and check
    the result, read/write sets and events equal the endorsed ones; return how many."""
    state = MemoryStateStore()
    verifier = BatchVerifier(workers=1)
    validator = BlockValidator(state, verifier)
    contract = default_registry().get("claims", "1.0")
    checked = 0
    previous: bytes | None = None
    try:
        for block in store:
            for raw, code in zip(block.transactions, block.codes, strict=True):
                if block.number == 0 or code != ValidationCode.VALID:
                    continue
                envelope = decode_envelope(raw)
                proposal = decode_proposal(envelope.proposal)
                if proposal.contract != "claims":
                    continue
                sim = Simulation(
                    state,
                    contract,
                    tx_id=tx_id_of(envelope.proposal),
                    timestamp=proposal.timestamp,
                    creator=validator.membership().validate(proposal.creator),
                )
                result = contract.call(sim, proposal.function, proposal.args, "invoke")
                endorsed = decode_response(envelope.response)
                assert to_plain(result) == endorsed.result
                assert sim.rwsets() == endorsed.rwsets
                assert sim.events() == endorsed.events
                checked += 1
            validated = validator.validate(block, previous)
            state.commit(validated.update)
            if validator.touches_governance(validated):
                validator.invalidate()
            previous = block.header.hash()
    finally:
        verifier.close()
    return checked


def test_claims_adjudicated_through_endorsement_and_commit(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=("plans", "claims")) as net:
            payer, provider = net.gateway("Org2"), net.gateway("Org1")
            await payer.submit("plans", "publish", [plain(plan(timely_filing_days=3650))])
            await payer.submit("plans", "enrol", [plain(coverage())])
            await payer.submit("plans", "admit", ["Org1", True])
            billed = claim(line(charge=40_000, code="73560", units=5), diagnoses=["S72001A"])
            first_form = submission(*billed.lines, diagnoses=["S72001A"])
            first = await provider.submit("claims", "submit", [plain(first_form)])
            assert first.result["status"] == "1"
            assert first.result["patient_responsibility_cents"] == 40_000
            again = submission(*billed.lines, claim_id="PCN-B2")
            duplicate = await provider.submit("claims", "submit", [plain(again)])
            assert (duplicate.result["status"], duplicate.result["disposition"]) == ("4", "denied")
            stored = await provider.evaluate("claims", "adjudication", [first.result["claim_key"]])
            # Whoever holds the claim and the payer's claim key proves it is the one adjudicated.
            assert stored["digest"] == claim_digest(billed, KEYER)
            assert stored["lines"][0]["adjustments"] == [
                {"group": "PR", "reason": "1", "amount_cents": 40_000, "quantity": None}
            ]
            accumulated = await payer.evaluate("claims", "accumulator", [MEMBER, "gold", 2026])
            assert accumulated["deductible_cents"] == 40_000

            await assert_consistent(net)
            state = await world(net, ("plans", "claims"))
            for namespace in state.values():
                for key, (value, _version) in namespace.items():
                    for needle in NEEDLES:
                        assert needle not in key
                        assert needle.encode() not in value
            blocks = list(net.peers["Org1"].blocks)
            for block in blocks:
                for raw in block.transactions:
                    for needle in NEEDLES:
                        assert needle.encode() not in raw, needle
            assert rederive(net.peers["Org2"].blocks) == 2

    asyncio.run(scenario())


def test_the_parties_struct_cannot_be_a_contract_argument() -> None:
    # ClaimParties has free-text fields: the strict PHI layer refuses such a type outright.
    with pytest.raises(PhiRejected):
        check_schema(ClaimParties)


def test_a_batch_with_many_claims_per_member_commits_every_claim(
    consortium: ConsortiumConfig,
) -> None:
    others = ["ph1" + hashlib.sha256(bytes([i])).hexdigest() for i in range(6)]

    async def scenario() -> None:
        async with running(consortium, contracts=("plans", "claims")) as net:
            payer, provider = net.gateway("Org2"), net.gateway("Org1")
            await payer.submit("plans", "publish", [plain(plan(timely_filing_days=3650))])
            await payer.submit("plans", "admit", ["Org1", True])
            for member in [MEMBER, *others]:
                await payer.submit("plans", "enrol", [plain(coverage(member))])
            batch = [
                submission(
                    line(service_from=iso_day(JAN1 + 30 + i)),
                    claim_id=f"PCN-{i}",
                    member=MEMBER if i % 2 else others[i % len(others)],
                )
                for i in range(24)
            ]
            outcomes = await submit_claims(provider.submit, batch)
            assert [o["disposition"] for o in outcomes if isinstance(o, dict)] == ["processed"] * 24
            spent = await payer.evaluate("claims", "accumulator", [MEMBER, "gold", 2026])
            # 12 visits of 10,000 allowed: 50,000 of deductible, then copay and coinsurance.
            assert spent["deductible_cents"] == 50_000
            assert spent["out_of_pocket_cents"] == sum(
                o["patient_responsibility_cents"]
                for o, claim in zip(outcomes, batch, strict=True)
                if isinstance(o, dict) and claim.member == MEMBER
            )

    asyncio.run(scenario())
