"""Property test: random create / award / concurrent award / redeem / expire / claw back /
freeze sequences on a real embedded consortium, with the conservation invariants checked after
every step (each step ends with its blocks committed on every peer):

* funded = awarded + remaining, and awarded = balances + redeemed + expired + clawed back;
* no negative balance or tranche; yearly and per-rule caps never exceeded;
* nullifiers unique (one award record per accepted award, a replay is always refused);
* no value moves member to member: every account equals the model built from its own
  outcomes only;
* every peer holds the same world state.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from careledger.contracts.incentives import pseudonym_of
from careledger.contracts.incentives.terms import MemberAccount, Tranche
from careledger.contracts.values import decode_value
from careledger.errors import ContractError, InvalidInput
from careledger.incentives.sponsors import allow_sponsor, create_campaign
from careledger.incentives.wallet import MemberWallet
from careledger.node.consortium import init_consortium
from careledger.node.network import EmbeddedNetwork
from tests.harness import TEST_CUTTER, approve_contract, settle, world
from tests.incentives.helpers import award, award_batch, batch_item, spec

SPONSOR = "Org1"
RULE_POINTS = 100
_ids = itertools.count()
SEEN: Counter[str] = Counter()


def event(name: str) -> None:
    SEEN[name] += 1


class Ledger:
    """One network shared by every example (each example uses campaigns of its own)."""

    loop: asyncio.AbstractEventLoop
    net: EmbeddedNetwork

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)


LEDGER = Ledger()


class Conservation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.net = LEDGER.net
        self.admin = self.net.gateway(SPONSOR, "admin")
        self.gw = self.net.gateway(SPONSOR)
        self.wallets = [MemberWallet() for _ in range(4)]
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.balances: dict[tuple[str, int], int] = {}
        self.nullifiers: dict[str, list[str]] = {}
        self.accepted: dict[str, set[str]] = {}

    def run(self, coro: Any) -> Any:
        return LEDGER.run(coro)

    def _campaign(self, index: int) -> str:
        names = sorted(self.campaigns)
        return names[index % len(names)]

    @initialize(budget=st.integers(50, 600), shards=st.integers(1, 8), short=st.booleans())
    def first_campaign(self, budget: int, shards: int, short: bool) -> None:
        self.create(budget, shards, short, 1_000)

    @rule(
        budget=st.integers(50, 600),
        shards=st.integers(1, 8),
        short=st.booleans(),
        cap=st.sampled_from([300, 1_000]),
    )
    def create(self, budget: int, shards: int, short: bool, cap: int) -> None:
        if len(self.campaigns) >= 3:
            return
        name = f"cons-{next(_ids)}"
        valid = 800 if short else 3_600_000
        terms = spec(name, budget=budget, shards=min(shards, budget), valid_for_ms=valid)
        terms = type(terms)(**{**_fields(terms), "yearly_cap_cents": cap})
        self.run(create_campaign(self.admin, terms))
        self.campaigns[name] = {
            "funded": budget,
            "cap": cap,
            "valid_until": terms.points_valid_until if short else None,
        }
        self.nullifiers[name] = [os.urandom(32).hex() for _ in range(24)]
        self.accepted[name] = set()

    def _award_outcome(self, name: str, who: int, points: int, nul: str, result: Any) -> None:
        if isinstance(result, InvalidInput):
            assert points > 10**9 or points < 1
            return
        assert not isinstance(result, BaseException), result
        event(f"award {result.get('code', 'awarded')}")
        if result["status"] == "awarded":
            assert nul not in self.accepted[name], "a nullifier paid twice"
            assert points <= RULE_POINTS
            self.accepted[name].add(nul)
            self.balances[(name, who)] = self.balances.get((name, who), 0) + points
        elif result["code"] == "evidence_replayed":
            assert nul in self.accepted[name]

    @rule(
        campaign=st.integers(0, 2),
        who=st.integers(0, 3),
        points=st.one_of(st.integers(1, 150), st.sampled_from([0, -3, 10**12])),
        nul=st.integers(0, 23),
    )
    def award_once(self, campaign: int, who: int, points: int, nul: int) -> None:
        name = self._campaign(campaign)
        nullifier = self.nullifiers[name][nul]
        key = self.wallets[who].member_key(name)
        try:
            result: Any = self.run(
                award(self.gw, name, key, points, nullifier_hex=nullifier, tag=_tag(who))
            )
        except InvalidInput as exc:
            result = exc
        self._award_outcome(name, who, points, nullifier, result)

    @rule(
        campaign=st.integers(0, 2),
        batch=st.lists(
            st.tuples(st.integers(0, 3), st.integers(1, 120), st.integers(0, 23)),
            min_size=2,
            max_size=6,
        ),
    )
    def award_concurrently(self, campaign: int, batch: list[tuple[int, int, int]]) -> None:
        name = self._campaign(campaign)

        async def all_at_once() -> list[Any]:
            return await asyncio.gather(
                *(
                    award(
                        self.gw,
                        name,
                        self.wallets[who].member_key(name),
                        points,
                        nullifier_hex=self.nullifiers[name][nul],
                        tag=_tag(who),
                        retries=10,
                    )
                    for who, points, nul in batch
                ),
                return_exceptions=True,
            )

        results = self.run(all_at_once())
        # Replays are judged against what was accepted before or alongside.
        for (who, points, nul), result in zip(batch, results, strict=True):
            if not isinstance(result, BaseException) and result["status"] == "awarded":
                self._award_outcome(name, who, points, self.nullifiers[name][nul], result)
        for (who, points, nul), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException) or result["status"] != "awarded":
                self._award_outcome(name, who, points, self.nullifiers[name][nul], result)

    @rule(
        campaign=st.integers(0, 2),
        batch=st.lists(
            st.tuples(
                st.integers(0, 3),
                st.one_of(st.integers(1, 120), st.sampled_from([0, 10**12])),
                st.integers(0, 23),
            ),
            min_size=1,
            max_size=8,
        ),
    )
    def award_in_one_transaction(self, campaign: int, batch: list[tuple[int, int, int]]) -> None:
        """``award_batch``: each award decided in order, a replay inside the batch refused; a
        malformed award refuses the whole batch and nothing is written."""
        name = self._campaign(campaign)
        items = [
            batch_item(
                self.wallets[who].member_key(name),
                points,
                nullifier_hex=self.nullifiers[name][nul],
                tag=_tag(who),
            )
            for who, points, nul in batch
        ]
        try:
            _, results = self.run(award_batch(self.gw, name, items, retries=10))
        except InvalidInput:
            assert any(not 1 <= points <= 10**9 for _, points, _ in batch)
            event("award_batch refused")
            return
        assert len(results) == len(batch)
        for (who, points, nul), result in zip(batch, results, strict=True):
            self._award_outcome(name, who, points, self.nullifiers[name][nul], result)

    @rule(campaign=st.integers(0, 2), who=st.integers(0, 3), quantity=st.integers(1, 3))
    def redeem(self, campaign: int, who: int, quantity: int) -> None:
        from careledger.incentives.members import redeem

        name = self._campaign(campaign)
        try:
            outcome = self.run(redeem(self.gw, self.wallets[who], name, "mug", quantity))
        except ContractError:  # no account yet
            assert (name, who) not in self.balances
            return
        event(f"redeem {outcome.code or 'redeemed'}")
        if outcome.status == "redeemed":
            self.balances[(name, who)] -= outcome.points
        else:
            assert outcome.code in ("insufficient_balance", "points_expired", "member_frozen")

    @precondition(lambda self: any(t["valid_until"] for t in self.campaigns.values()))
    @rule(data=st.data())
    def expire_after_validity(self, data: st.DataObject) -> None:
        short = sorted(n for n, t in self.campaigns.items() if t["valid_until"])
        name = data.draw(st.sampled_from(short))
        until = self.campaigns[name]["valid_until"]

        async def past_validity() -> None:
            deadline = time.monotonic() + 30  # a bound, not a sleep: usually well under 1 s
            while time.time() * 1000 <= until + 20 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)

        self.run(past_validity())
        for who in range(len(self.wallets)):
            if (name, who) in self.balances:
                self.expire(self._index(name), who)
                assert self.balances[(name, who)] == 0

    def _index(self, name: str) -> int:
        return sorted(self.campaigns).index(name)

    @precondition(lambda self: any(b >= 50 for b in self.balances.values()))
    @rule(data=st.data())
    def redeem_what_is_held(self, data: st.DataObject) -> None:
        held = sorted(k for k, b in self.balances.items() if b >= 50)
        name, who = data.draw(st.sampled_from(held))
        self.redeem(self._index(name), who, 1)

    @rule(campaign=st.integers(0, 2), who=st.integers(0, 3))
    def expire(self, campaign: int, who: int) -> None:
        name = self._campaign(campaign)
        pseudonym = self.wallets[who].pseudonym(name)
        try:
            done = self.run(self.gw.submit("incentives", "expire", [name, pseudonym]))
        except ContractError:  # still valid, or no account
            return
        event("expired")
        assert done.result["points"] == self.balances.get((name, who), 0)
        self.balances[(name, who)] = 0

    @rule(campaign=st.integers(0, 2), who=st.integers(0, 3), points=st.integers(1, 80))
    def claw_back(self, campaign: int, who: int, points: int) -> None:
        name = self._campaign(campaign)
        pseudonym = self.wallets[who].pseudonym(name)
        args = [name, pseudonym, points, "audit_finding"]
        try:
            self.run(self.admin.submit("incentives", "claw_back", args))
        except (ContractError, InvalidInput):
            assert points > self.balances.get((name, who), 0)
            return
        self.balances[(name, who)] -= points

    @rule(campaign=st.integers(0, 2), who=st.integers(0, 3), frozen=st.booleans())
    def freeze(self, campaign: int, who: int, frozen: bool) -> None:
        name = self._campaign(campaign)
        pseudonym = self.wallets[who].pseudonym(name)
        function, args = (
            ("freeze", [name, pseudonym, "fraud_suspected"])
            if frozen
            else ("unfreeze", [name, pseudonym])
        )
        try:
            self.run(self.admin.submit("incentives", function, args))
        except ContractError:
            assert (name, who) not in self.balances

    @invariant()
    def conserved(self) -> None:
        if not self.campaigns:
            return
        self.run(settle(self.net))
        state = self.run(world(self.net, ("incentives",)))["incentives"]
        for name, terms in self.campaigns.items():
            accounts = {
                k.rsplit("/", 1)[1]: decode_value(v, MemberAccount)
                for k, (v, _) in state.items()
                if k.startswith(f"member/{name}/")
            }
            tranches = [
                decode_value(v, Tranche).remaining
                for k, (v, _) in state.items()
                if k.startswith(f"tranche/{name}/")
            ]
            awards = [k for k in state if k.startswith(f"award/{name}/")]
            awarded = sum(a.awarded for a in accounts.values())
            assert min(tranches) >= 0
            assert terms["funded"] == awarded + sum(tranches)
            for acct in accounts.values():
                assert acct.balance >= 0
                assert (
                    acct.awarded == acct.balance + acct.redeemed + acct.expired + acct.clawed_back
                )
                assert acct.cap_used_cents <= terms["cap"]
            assert sorted(a.rsplit("/", 1)[1] for a in awards) == sorted(self.accepted[name])
            for (campaign, who), balance in self.balances.items():
                if campaign != name:
                    continue
                pseudonym = pseudonym_of(bytes.fromhex(self.wallets[who].member_key(name)))
                assert accounts[pseudonym].balance == balance
            totals = self.run(self.gw.evaluate("incentives", "totals", [name]))
            assert totals["awarded"] == awarded
            assert totals["remaining"] == sum(tranches)


def _tag(who: int) -> str:
    return f"a{who:x}" * 32  # hex with a letter: an all-digit string is not a digest


def _fields(value: Any) -> dict[str, Any]:
    return {f: getattr(value, f) for f in value.__struct_fields__}


def test_conservation_after_every_step(tmp_path: Path) -> None:
    config = init_consortium(tmp_path / "c", ["Org1", "Org2", "Org3"], cutter=TEST_CUTTER)
    LEDGER.loop = asyncio.new_event_loop()
    LEDGER.net = EmbeddedNetwork(config)
    try:
        LEDGER.run(LEDGER.net.start())
        LEDGER.run(approve_contract(LEDGER.net, "incentives", "MAJORITY"))
        admins = [LEDGER.net.gateway(o, "admin") for o in ("Org1", "Org2", "Org3")]
        LEDGER.run(allow_sponsor(admins, SPONSOR, 10**9))
        runner = Conservation.TestCase
        runner.settings = settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        runner().runTest()
        # the sequences reached every outcome the invariants are about
        assert {"award awarded", "award evidence_replayed"} <= set(SEEN), SEEN
    finally:
        LEDGER.run(LEDGER.net.stop())
        LEDGER.loop.close()
