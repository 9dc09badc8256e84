"""The validator: a tampered block is refused whole, naming the check; a forged, replayed or stale
transaction is recorded with its code and changes nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careledger.contracts.tokens import Account
from careledger.contracts.values import encode_value
from careledger.crypto.keys import BatchVerifier
from careledger.errors import ChainVerificationError, InvalidInput, MembershipError, PolicyError
from careledger.identity.msp import Role, parse_cert
from careledger.ledger.block import Block, make_block
from careledger.ledger.blockstore import BlockStore
from careledger.ledger.codes import ValidationCode as Code
from careledger.ledger.state.memory import MemoryStateStore
from careledger.ledger.transaction import (
    MAX_PROPOSAL_BYTES,
    Endorsement,
    Envelope,
    KVWrite,
    NsRWSet,
    decode_response,
)
from careledger.node.consortium import ConsortiumConfig
from careledger.ordering.solo import sign_block
from careledger.validation.validator import MAX_ENDORSEMENTS, BlockValidator
from tests.harness import (
    Note,
    approve_contract,
    assert_consistent,
    balances,
    codes_of,
    endorse_as,
    endorsed,
    envelope_for,
    fund,
    history_tx_ids,
    impostor,
    new_consortium,
    occurrences,
    order,
    peers_of,
    registry_with_notebook,
    replay,
    running,
    world,
)


# -- block level: a recorded chain, re-validated from scratch -------------------------------
@dataclasses.dataclass
class RecordedChain:
    config: ConsortiumConfig
    blocks: list[Block]
    state_root: bytes


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> RecordedChain:
    config = new_consortium(tmp_path_factory.mktemp("chain") / "consortium")

    async def scenario() -> bytes:
        async with running(config) as net:
            await fund(net, {"a1": 50, "a2": 50})
            client = net.gateway("Org1")
            await asyncio.gather(
                *(
                    client.submit("tokens", "transfer", ["a1", "a2", 1], retries=0)
                    for _ in range(3)
                ),
                return_exceptions=True,
            )
            await client.submit("tokens", "transfer", ["a2", "a1", 7])
            return net.peers["Org1"].state.state_root()

    root = asyncio.run(scenario())
    store = BlockStore(config.data_dir("Org1") / "blocks.log")
    try:
        blocks = list(store)
    finally:
        store.close()
    return RecordedChain(config, blocks, root)


@pytest.fixture(scope="module")
def validators(recorded: RecordedChain) -> Iterator[dict[int, tuple[BlockValidator, bytes | None]]]:
    """For each height n: a validator whose state holds blocks 0..n-1, and block n-1's hash."""
    verifier = BatchVerifier(workers=1)
    found: dict[int, tuple[BlockValidator, bytes | None]] = {}
    for n in range(len(recorded.blocks)):
        state = MemoryStateStore()
        validator = BlockValidator(state, verifier)
        previous: bytes | None = None
        for block in recorded.blocks[:n]:
            state.commit(validator.validate(block, previous).update)
            validator.invalidate()
            previous = block.header.hash()
        found[n] = (validator, previous)
    yield found
    verifier.close()


def check(validators: dict[int, tuple[BlockValidator, bytes | None]], block: Block) -> None:
    validator, previous = validators[block.number]
    validator.check_block(block, previous)


def test_the_recorded_chain_validates_to_the_same_codes_and_state(recorded: RecordedChain) -> None:
    store = BlockStore(recorded.config.data_dir("Org2") / "blocks.log")
    try:
        state, codes = replay(store)
    finally:
        store.close()
    assert codes == [b.codes for b in recorded.blocks]
    assert state.state_root() == recorded.state_root
    assert Code.MVCC_READ_CONFLICT in {c for b in recorded.blocks for c in b.codes}


def test_untampered_blocks_pass_every_block_check(
    recorded: RecordedChain, validators: dict[int, tuple[BlockValidator, bytes | None]]
) -> None:
    for block in recorded.blocks:
        check(validators, block)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.data())
def test_a_flipped_byte_in_any_transaction_fails_the_data_hash_check(
    recorded: RecordedChain,
    validators: dict[int, tuple[BlockValidator, bytes | None]],
    data: st.DataObject,
) -> None:
    block = data.draw(st.sampled_from(recorded.blocks), label="block")
    index = data.draw(st.integers(0, len(block.transactions) - 1), label="transaction")
    raw = bytearray(block.transactions[index])
    position = data.draw(st.integers(0, len(raw) - 1), label="byte")
    raw[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    txs = [*block.transactions]
    txs[index] = bytes(raw)
    with pytest.raises(ChainVerificationError, match="data hash") as caught:
        check(validators, dataclasses.replace(block, transactions=txs))
    assert caught.value.block == block.number


def test_a_dropped_or_added_transaction_fails_the_data_hash_check(
    recorded: RecordedChain, validators: dict[int, tuple[BlockValidator, bytes | None]]
) -> None:
    block = max(recorded.blocks, key=lambda b: len(b.transactions))
    assert len(block.transactions) > 1
    with pytest.raises(ChainVerificationError, match="data hash"):
        check(validators, dataclasses.replace(block, transactions=block.transactions[1:]))
    more = [*block.transactions, block.transactions[0]]
    with pytest.raises(ChainVerificationError, match="data hash"):
        check(validators, dataclasses.replace(block, transactions=more))


@pytest.mark.parametrize("number", [0, 3, -1])
def test_a_wrong_orderer_signature_is_refused(
    recorded: RecordedChain,
    validators: dict[int, tuple[BlockValidator, bytes | None]],
    number: int,
) -> None:
    block = recorded.blocks[number]
    bad = bytes([block.signature[0] ^ 0x80]) + block.signature[1:]
    with pytest.raises(ChainVerificationError, match="orderer signature"):
        check(validators, dataclasses.replace(block, signature=bad))


def test_a_changed_header_field_breaks_the_orderer_signature(
    recorded: RecordedChain, validators: dict[int, tuple[BlockValidator, bytes | None]]
) -> None:
    block = recorded.blocks[-1]
    header = dataclasses.replace(block.header, timestamp=block.header.timestamp + 1)
    with pytest.raises(ChainVerificationError, match="orderer signature"):
        check(validators, dataclasses.replace(block, header=header))


def test_a_wrong_previous_hash_is_refused(
    recorded: RecordedChain, validators: dict[int, tuple[BlockValidator, bytes | None]]
) -> None:
    block = recorded.blocks[-1]
    header = dataclasses.replace(block.header, previous_hash=recorded.blocks[-3].header.hash())
    # Even re-signed by the real orderer the block does not extend this chain.
    forged = sign_block(Block(header, block.transactions), recorded.config.orderer_identity())
    with pytest.raises(ChainVerificationError, match="previous hash") as caught:
        check(validators, forged)
    assert caught.value.block == block.number


def test_a_block_out_of_sequence_is_refused(
    recorded: RecordedChain, validators: dict[int, tuple[BlockValidator, bytes | None]]
) -> None:
    validator, previous = validators[3]
    with pytest.raises(ChainVerificationError, match="block number"):
        validator.check_block(recorded.blocks[4], recorded.blocks[3].header.hash())
    with pytest.raises(ChainVerificationError, match="block number"):
        validator.check_block(recorded.blocks[2], previous)


@pytest.mark.parametrize("signer", ["peer", "impostor-orderer"])
def test_only_a_member_orderer_may_sign_blocks(
    recorded: RecordedChain,
    validators: dict[int, tuple[BlockValidator, bytes | None]],
    signer: str,
) -> None:
    block = recorded.blocks[-1]
    identity = (
        recorded.config.member("Org2", "peer0")
        if signer == "peer"
        else impostor("Org1", "orderer0", Role.ORDERER)
    )
    resigned = sign_block(Block(block.header, block.transactions), identity)
    with pytest.raises(ChainVerificationError, match="orderer identity"):
        check(validators, resigned)


def test_a_genesis_block_of_another_consortium_is_refused(
    recorded: RecordedChain, tmp_path: Path
) -> None:
    other = new_consortium(tmp_path / "other").genesis()
    forged = make_block(0, other.header.previous_hash, other.transactions, other.header.timestamp)
    sign_block(forged, recorded.config.orderer_identity())  # their config, our orderer
    validator = BlockValidator(MemoryStateStore(), BatchVerifier(workers=1))
    try:
        with pytest.raises(ChainVerificationError, match="orderer identity"):
            validator.check_block(forged, None)
        garbage = make_block(0, other.header.previous_hash, [b"\xa0"], 0)
        with pytest.raises(ChainVerificationError, match="genesis"):
            validator.check_block(garbage, None)
    finally:
        validator.verifier.close()


# -- transaction level: crafted envelopes ordered on a live network -------------------------
Forgery = Callable[[ConsortiumConfig, Envelope], Envelope]


def drop_endorsement(config: ConsortiumConfig, env: Envelope) -> Envelope:
    return msgspec.structs.replace(env, endorsements=env.endorsements[:1])


def no_endorsements(config: ConsortiumConfig, env: Envelope) -> Envelope:
    return msgspec.structs.replace(env, endorsements=[])


def same_endorsement_twice(config: ConsortiumConfig, env: Envelope) -> Envelope:
    return msgspec.structs.replace(env, endorsements=[env.endorsements[0]] * 2)


def signature_over_wrong_bytes(config: ConsortiumConfig, env: Envelope) -> Envelope:
    org2 = config.member("Org2", "peer0")
    wrong = Endorsement(org2.identity, org2.sign(env.proposal))
    return msgspec.structs.replace(env, endorsements=[env.endorsements[0], wrong])


def endorser_not_a_member(config: ConsortiumConfig, env: Envelope) -> Envelope:
    fake = impostor("Org2", "peer0", Role.PEER)
    forged = Endorsement(fake.identity, fake.sign(env.response))
    return msgspec.structs.replace(env, endorsements=[env.endorsements[0], forged])


def endorser_not_a_peer(config: ConsortiumConfig, env: Envelope) -> Envelope:
    admin = config.member("Org2", "admin")
    by_admin = Endorsement(admin.identity, admin.sign(env.response))
    return msgspec.structs.replace(env, endorsements=[env.endorsements[0], by_admin])


def response_altered_after_endorsement(config: ConsortiumConfig, env: Envelope) -> Envelope:
    response = decode_response(env.response)
    rich = encode_value(Account("Org1", 10**9), Account)
    rwsets = [
        msgspec.structs.replace(rw, writes=[KVWrite(w.key, rich) for w in rw.writes])
        for rw in response.rwsets
    ]
    altered = msgspec.structs.replace(response, rwsets=rwsets)
    return msgspec.structs.replace(env, response=altered.to_bytes())


def too_many_endorsements(config: ConsortiumConfig, env: Envelope) -> Envelope:
    return msgspec.structs.replace(env, endorsements=env.endorsements * (MAX_ENDORSEMENTS // 2 + 1))


def creator_signature_forged(config: ConsortiumConfig, env: Envelope) -> Envelope:
    other = config.member("Org1", "admin")  # a member, but not the creator
    return msgspec.structs.replace(env, signature=other.sign(env.proposal))


def response_of_another_transaction(config: ConsortiumConfig, env: Envelope) -> Envelope:
    response = decode_response(env.response)
    other = msgspec.structs.replace(response, tx_id="0" * 64)
    endorsements = endorse_as(peers_of(config, "Org1", "Org2"), other)
    return msgspec.structs.replace(env, response=other.to_bytes(), endorsements=endorsements)


@pytest.mark.parametrize(
    ("forgery", "code"),
    [
        (drop_endorsement, Code.ENDORSEMENT_POLICY_FAILURE),
        (no_endorsements, Code.ENDORSEMENT_POLICY_FAILURE),
        (same_endorsement_twice, Code.ENDORSEMENT_POLICY_FAILURE),
        (signature_over_wrong_bytes, Code.ENDORSEMENT_POLICY_FAILURE),
        (endorser_not_a_member, Code.ENDORSEMENT_POLICY_FAILURE),
        (endorser_not_a_peer, Code.ENDORSEMENT_POLICY_FAILURE),
        (response_altered_after_endorsement, Code.ENDORSEMENT_POLICY_FAILURE),
        (too_many_endorsements, Code.ENDORSEMENT_POLICY_FAILURE),
        (creator_signature_forged, Code.BAD_CREATOR_SIGNATURE),
        (response_of_another_transaction, Code.RESPONSE_MISMATCH),
    ],
)
def test_a_forged_envelope_commits_invalid_and_changes_nothing(
    consortium: ConsortiumConfig, forgery: Forgery, code: Code
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 100, "a2": 0})
            tx_id, genuine = await endorsed(
                net.gateway("Org1"), "tokens", "transfer", ["a1", "a2", 5]
            )
            before = await world(net)
            await order(net, forgery(consortium, genuine))
            assert codes_of(net, tx_id) == [code]
            assert await world(net) == before
            assert await balances(net, ["a1", "a2"]) == [100, 0]
            assert tx_id not in history_tx_ids(net, "tokens", "acct/a1")
            await assert_consistent(net)

    asyncio.run(scenario())


def test_one_signature_cannot_fill_two_places_in_a_policy(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=(), registry=registry_with_notebook()) as net:
            await approve_contract(net, "notebook", policy="2 OF (Org1, Org1)")
            with pytest.raises(PolicyError, match="cannot be met"):
                await net.gateway("Org1").submit("notebook", "write", ["n1", "x"])
            org1 = consortium.member("Org1", "peer0")
            note = NsRWSet("notebook", [], [], [KVWrite("note/n1", encode_value(Note("x"), Note))])
            tx_id, twice = envelope_for(
                consortium.member("Org1", "client0"),
                "notebook",
                "write",
                ["n1", "x"],
                rwsets=[note],
                endorsers=[org1, org1],
            )
            await order(net, twice)
            assert codes_of(net, tx_id) == [Code.ENDORSEMENT_POLICY_FAILURE]
            assert (await world(net, ("notebook",)))["notebook"] == {}

    asyncio.run(scenario())


def test_the_genuine_envelope_the_forgeries_start_from_commits(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 100, "a2": 0})
            tx_id, genuine = await endorsed(
                net.gateway("Org1"), "tokens", "transfer", ["a1", "a2", 5]
            )
            assert len(genuine.endorsements) == 2
            await order(net, genuine)
            assert codes_of(net, tx_id) == [Code.VALID]
            assert await balances(net, ["a1", "a2"]) == [95, 5]
            assert tx_id in history_tx_ids(net, "tokens", "acct/a1")

    asyncio.run(scenario())


def test_a_creator_outside_the_consortium_is_refused_by_endorsers_and_validation(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 100, "a2": 0})
            mallory = impostor("Org1", "client0", Role.CLIENT)
            gateway = net.gateway("Org1")
            outsider = type(gateway)(mallory, gateway.peer, gateway.endorsers, gateway.ordering)
            with pytest.raises(MembershipError, match="not signed by Org1's root"):
                await outsider.submit("tokens", "transfer", ["a1", "a2", 5])

            # Even with endorsements from colluding peers, validation refuses the creator.
            _, genuine = await endorsed(gateway, "tokens", "transfer", ["a1", "a2", 5])
            rwsets = decode_response(genuine.response).rwsets
            tx_id, forged = envelope_for(
                mallory,
                "tokens",
                "transfer",
                ["a1", "a2", 5],
                rwsets=rwsets,
                endorsers=peers_of(consortium, "Org1", "Org2", "Org3"),
            )
            before = await world(net)
            await order(net, forged)
            assert codes_of(net, tx_id) == [Code.CREATOR_NOT_MEMBER]
            assert await world(net) == before
            assert await balances(net, ["a1", "a2"]) == [100, 0]

    asyncio.run(scenario())


def test_writes_outside_the_contracts_namespace_are_refused(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            # Colluding Org1 and Org2 peers endorse a tokens call that also revokes Org3's admin.
            revocation = NsRWSet("_gov", [], [], [KVWrite("revoked/Org3/3", b"\xa0")])
            tx_id, forged = envelope_for(
                consortium.member("Org1", "client0"),
                "tokens",
                "open",
                ["a9"],
                rwsets=[revocation],
                endorsers=peers_of(consortium, "Org1", "Org2"),
            )
            before = await world(net)
            await order(net, forged)
            assert codes_of(net, tx_id) == [Code.NAMESPACE_VIOLATION]
            assert await world(net) == before

    asyncio.run(scenario())


def test_a_contract_without_an_approved_definition_is_refused(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium, contracts=()) as net:
            tokens = NsRWSet("tokens", [], [], [KVWrite("acct/a1", b"\xa0")])
            tx_id, forged = envelope_for(
                consortium.member("Org1", "client0"),
                "tokens",
                "open",
                ["a1"],
                rwsets=[tokens],
                endorsers=peers_of(consortium, "Org1", "Org2", "Org3"),
            )
            await order(net, forged)
            assert codes_of(net, tx_id) == [Code.UNKNOWN_CONTRACT]
            assert (await world(net))["tokens"] == {}

    asyncio.run(scenario())


def test_an_envelope_whose_proposal_is_garbage_or_oversized_is_malformed(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 100, "a2": 0})
            _, genuine = await endorsed(net.gateway("Org1"), "tokens", "transfer", ["a1", "a2", 5])
            garbage = msgspec.structs.replace(genuine, proposal=b"\x01\x02")
            huge = msgspec.structs.replace(genuine, proposal=bytes(MAX_PROPOSAL_BYTES + 1))
            before = await world(net)
            await order(net, garbage, huge)
            last = net.peers["Org1"].blocks.get(net.peers["Org1"].blocks.height() - 1)
            assert last.codes == [Code.MALFORMED_PAYLOAD, Code.MALFORMED_PAYLOAD]
            assert await world(net) == before
            await assert_consistent(net)

    asyncio.run(scenario())


# -- replays and duplicates ------------------------------------------------------------------
def test_a_replayed_envelope_is_a_duplicate_and_applies_once(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 100, "a2": 0})
            gateway = net.gateway("Org1")
            tx_id, envelope = await endorsed(gateway, "tokens", "transfer", ["a1", "a2", 5])
            await gateway.submit_envelope(tx_id, envelope)
            await order(net, envelope)
            assert codes_of(net, tx_id) == [Code.VALID, Code.DUPLICATE_TXID]
            assert await balances(net, ["a1", "a2"]) == [95, 5]
            # The recorded outcome stays the first one.
            assert net.peers["Org2"].state.tx(tx_id).code == Code.VALID  # type: ignore[union-attr]
            # Endorsers will not simulate an already committed proposal again.
            proposal, signature = envelope.proposal, envelope.signature
            with pytest.raises(InvalidInput, match="already committed"):
                net.peers["Org3"].endorse(proposal, signature)
            await assert_consistent(net)

    asyncio.run(scenario())


def test_a_copy_with_a_forged_creator_signature_does_not_block_the_genuine_one(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 100, "a2": 0})
            gateway = net.gateway("Org1")
            tx_id, genuine = await endorsed(gateway, "tokens", "transfer", ["a1", "a2", 5])
            forged = creator_signature_forged(consortium, genuine)
            await order(net, forged)
            await gateway.submit_envelope(tx_id, genuine)
            assert codes_of(net, tx_id) == [Code.BAD_CREATOR_SIGNATURE, Code.VALID]
            assert await balances(net, ["a1", "a2"]) == [95, 5]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("wrapping", "copy_code"),
    [
        ("another response", Code.RESPONSE_MISMATCH),
        ("no endorsements", Code.ENDORSEMENT_POLICY_FAILURE),
    ],
)
def test_a_junk_wrapped_copy_of_a_signed_proposal_does_not_block_the_genuine_one(
    consortium: ConsortiumConfig, wrapping: str, copy_code: Code
) -> None:
    # Whoever sees a signed proposal can wrap it in any response or endorsements; such a copy,
    # ordered first, must not use up the transaction id of the genuine one.
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 100, "a2": 0})
            gateway = net.gateway("Org1")
            tx_id, genuine = await endorsed(gateway, "tokens", "transfer", ["a1", "a2", 5])
            if wrapping == "another response":
                _, other = await endorsed(gateway, "tokens", "transfer", ["a1", "a2", 7])
                copy = msgspec.structs.replace(
                    genuine, response=other.response, endorsements=other.endorsements
                )
            else:
                copy = msgspec.structs.replace(genuine, endorsements=[])
            await order(net, copy)
            await gateway.submit_envelope(tx_id, genuine)
            assert codes_of(net, tx_id) == [copy_code, Code.VALID]
            assert await balances(net, ["a1", "a2"]) == [95, 5]

    asyncio.run(scenario())


def test_two_envelopes_of_one_proposal_in_one_block_apply_once(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 100, "a2": 0})
            tx_id, first = await endorsed(
                net.gateway("Org1"), "tokens", "transfer", ["a1", "a2", 5]
            )
            # The same signed proposal endorsed again by a different set of organisations.
            used = {parse_cert(e.endorser)[0].org for e in first.endorsements}
            other = next(o for o in ("Org2", "Org3") if o not in used)
            extra = net.peers[other].endorse(first.proposal, first.signature)[1]
            second = msgspec.structs.replace(first, endorsements=[first.endorsements[0], extra])
            assert second.to_bytes() != first.to_bytes()
            await order(net, first, second, first)
            found = occurrences(net, tx_id)
            assert [code for _, code in found] == [
                Code.VALID,
                Code.DUPLICATE_TXID,
                Code.DUPLICATE_TXID,
            ]
            assert len({block for block, _ in found}) == 1, "expected one block"
            assert await balances(net, ["a1", "a2"]) == [95, 5]
            await assert_consistent(net)

    asyncio.run(scenario())


# -- MVCC ------------------------------------------------------------------------------------
def test_two_spends_endorsed_on_the_same_state_commit_once(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 10, "a2": 0, "a3": 0})
            gateway = net.gateway("Org1")
            first, spend1 = await endorsed(gateway, "tokens", "transfer", ["a1", "a2", 10])
            second, spend2 = await endorsed(gateway, "tokens", "transfer", ["a1", "a3", 10])
            await order(net, spend1, spend2)
            assert codes_of(net, first) == [Code.VALID]
            assert codes_of(net, second) == [Code.MVCC_READ_CONFLICT]
            assert await balances(net, ["a1", "a2", "a3"]) == [0, 10, 0]
            assert second not in history_tx_ids(net, "tokens", "acct/a1")
            assert second not in history_tx_ids(net, "tokens", "acct/a3")
            await assert_consistent(net)

    asyncio.run(scenario())


def test_an_endorsement_gone_stale_in_an_earlier_block_is_a_conflict(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 10, "a2": 0})
            gateway = net.gateway("Org1")
            stale, envelope = await endorsed(gateway, "tokens", "transfer", ["a1", "a2", 4])
            await gateway.submit("tokens", "transfer", ["a1", "a2", 3])
            await order(net, envelope)
            assert codes_of(net, stale) == [Code.MVCC_READ_CONFLICT]
            assert await balances(net, ["a1", "a2"]) == [7, 3]

    asyncio.run(scenario())


@pytest.mark.parametrize("same_block", [False, True])
def test_a_range_that_gained_a_key_is_a_phantom_conflict(
    consortium: ConsortiumConfig, same_block: bool
) -> None:
    async def scenario() -> None:
        async with running(
            consortium, contracts=("notebook",), registry=registry_with_notebook()
        ) as net:
            gateway = net.gateway("Org1")
            await gateway.submit("notebook", "write", ["n1", "first"])
            tally, counting = await endorsed(gateway, "notebook", "tally", [])
            assert decode_response(counting.response).result == 1
            added, adding = await endorsed(gateway, "notebook", "write", ["n2", "second"])
            if same_block:
                await order(net, adding, counting)
            else:
                await order(net, adding)
                await order(net, counting)
            assert codes_of(net, added) == [Code.VALID]
            assert codes_of(net, tally) == [Code.PHANTOM_READ_CONFLICT]
            assert "tally" not in (await world(net, ("notebook",)))["notebook"]
            # Re-endorsed on the current state the count is right and commits.
            assert (await gateway.submit("notebook", "tally", [])).result == 2

    asyncio.run(scenario())


def test_reading_a_key_written_earlier_in_the_same_block_is_a_conflict(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with running(consortium) as net:
            await fund(net, {"a1": 10, "a2": 10})
            gateway = net.gateway("Org1")
            into_a2, first = await endorsed(gateway, "tokens", "transfer", ["a1", "a2", 1])
            out_of_a2, second = await endorsed(gateway, "tokens", "transfer", ["a2", "a1", 1])
            await order(net, first, second)
            assert codes_of(net, into_a2) == [Code.VALID]
            assert codes_of(net, out_of_a2) == [Code.MVCC_READ_CONFLICT]

    asyncio.run(scenario())
