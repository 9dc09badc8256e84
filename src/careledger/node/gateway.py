"""The gateway: how a client application submits transactions and evaluates queries.

``submit`` builds and signs a proposal, asks a set of organisations' peers that satisfies the
contract's endorsement policy to endorse it, checks that their results are identical, sends the
transaction to ordering and waits for the commit event from the gateway's own peer. A VALID
commit returns the contract's result; any other code raises :class:`TransactionInvalid`.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from careledger.endorsement.policy import plan, resolve
from careledger.errors import (
    EndorsementError,
    EndorserUnavailable,
    MembershipError,
    PolicyError,
    TransactionInvalid,
    UnknownContract,
)
from careledger.identity.msp import LocalIdentity
from careledger.ledger.codes import ValidationCode
from careledger.ledger.transaction import (
    Endorsement,
    Envelope,
    Proposal,
    decode_response,
    tx_id_of,
)
from careledger.node.peer import Peer
from careledger.ordering.base import OrderingService

#: How long an endorser that could not be reached is left out of endorsement plans.
UNAVAILABLE_SECONDS = 5.0


class Endorser(Protocol):
    """A peer that can endorse, local or remote."""

    org: str

    async def endorse(self, proposal: bytes, signature: bytes) -> tuple[bytes, Endorsement]: ...


class LocalEndorser:
    """An in-process peer as an endorser."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.org = peer.org

    async def endorse(self, proposal: bytes, signature: bytes) -> tuple[bytes, Endorsement]:
        return self.peer.endorse(proposal, signature)


@dataclass(frozen=True, slots=True)
class SubmitResult:
    tx_id: str
    result: Any
    code: ValidationCode


class Gateway:
    def __init__(
        self,
        identity: LocalIdentity,
        peer: Peer,
        endorsers: Mapping[str, Endorser],
        ordering: OrderingService,
        *,
        commit_timeout: float = 30.0,
    ) -> None:
        self.identity = identity
        self.peer = peer
        self.endorsers = dict(endorsers)
        self.ordering = ordering
        self.commit_timeout = commit_timeout
        self._unavailable: dict[str, float] = {}

    def proposal(self, contract: str, function: str, args: list[Any]) -> tuple[bytes, bytes]:
        """Canonical proposal bytes and the creator's signature over them."""
        body = Proposal(
            contract=contract,
            function=function,
            args=list(args),
            creator=self.identity.identity,
            nonce=os.urandom(16),
            timestamp=int(time.time() * 1000),
        ).to_bytes()
        return body, self.identity.sign(body)

    def endorsing_orgs(self, contract: str, exclude: Collection[str] = ()) -> list[str]:
        """A smallest set of organisations to ask: this gateway's own first, the others in random
        order (spreading the load), leaving out ``exclude`` and those recently unreachable."""
        found = self.peer.validator.definition(contract)
        if found is None:
            raise UnknownContract(f"contract {contract!r} has no definition approved by governance")
        members = self.peer.validator.membership().org_ids()
        now = time.monotonic()
        reachable = [
            o
            for o in members
            if o in self.endorsers and o not in exclude and self._unavailable.get(o, 0.0) <= now
        ]
        random.shuffle(reachable)
        # MAJORITY / ANY / ALL count every organisation in the consortium, as validation does,
        # not only those this gateway can reach.
        try:
            return plan(resolve(found[1], members), reachable, prefer=self.identity.org)
        except PolicyError as exc:
            down = sorted(o for o in members if self._unavailable.get(o, 0.0) > now)
            if not down:
                raise
            raise EndorserUnavailable(
                f"cannot reach {', '.join(down)} (unreachable in the last "
                f"{UNAVAILABLE_SECONDS:g} s), which the policy of {contract!r} needs; retry later"
            ) from exc

    async def endorse(self, contract: str, proposal: bytes, signature: bytes) -> Envelope:
        excluded: set[str] = set()
        unreachable: EndorserUnavailable | None = None
        while True:
            try:
                orgs = self.endorsing_orgs(contract, excluded)
            except PolicyError:
                if unreachable is None:
                    raise
                raise unreachable from None  # the policy needed an organisation we cannot reach
            outcomes = await asyncio.gather(
                *(self.endorsers[o].endorse(proposal, signature) for o in orgs),
                return_exceptions=True,
            )
            outcomes = [self._current_member(o, r) for o, r in zip(orgs, outcomes, strict=True)]
            down = [
                o for o, r in zip(orgs, outcomes, strict=True) if isinstance(r, EndorserUnavailable)
            ]
            if not down:
                break
            # Ask others instead, and skip these for a while rather than time out on every call.
            until = time.monotonic() + UNAVAILABLE_SECONDS
            for org in down:
                self._unavailable[org] = until
                excluded.add(org)
            unreachable = next(r for r in outcomes if isinstance(r, EndorserUnavailable))
        replies = [o for o in outcomes if not isinstance(o, BaseException)]
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures and replies:
            # Some endorsers accepted what others refused: typically a peer that has not yet
            # committed the block the others simulated on. Skew, so retryable.
            raise EndorsementError(
                f"endorsers {orgs} disagree: some refused ({failures[0]})"
            ) from failures[0]
        if failures:
            raise failures[0]
        responses = {r for r, _ in replies}
        if len(responses) != 1:
            raise EndorsementError(
                f"endorsers {orgs} returned different results (state skew or non-determinism)"
            )
        return Envelope(proposal, signature, replies[0][0], [e for _, e in replies])

    def _current_member(
        self, org: str, outcome: tuple[bytes, Endorsement] | BaseException
    ) -> tuple[bytes, Endorsement] | BaseException:
        """An endorsement signed by an identity revoked (or foreign) in the membership this
        gateway's peer knows would fail validation: the endorser counts as unavailable."""
        if isinstance(outcome, BaseException):
            return outcome
        try:
            cert = self.peer.validator.membership().validate(outcome[1].endorser)
        except MembershipError as exc:
            return EndorserUnavailable(f"{org}'s endorser cannot endorse: {exc}")
        if cert.org != org:
            return EndorserUnavailable(f"{org}'s endorser signed as {cert.org}.{cert.name}")
        return outcome

    async def submit(
        self, contract: str, function: str, args: list[Any], *, retries: int = 3
    ) -> SubmitResult:
        """Endorse, order and wait for commit; retries on endorsement skew and MVCC conflicts."""
        for attempt in range(retries + 1):
            proposal, signature = self.proposal(contract, function, args)
            try:
                envelope = await self.endorse(contract, proposal, signature)
            except EndorsementError:
                if attempt == retries:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
                continue
            tx_id = tx_id_of(proposal)
            try:
                return await self.submit_envelope(tx_id, envelope)
            except TransactionInvalid as exc:
                if exc.code != ValidationCode.MVCC_READ_CONFLICT.name or attempt == retries:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def submit_envelope(self, tx_id: str, envelope: Envelope) -> SubmitResult:
        """Order an already endorsed transaction and wait for its commit."""
        waiter = self.peer.wait_for(tx_id)
        try:
            await self.ordering.broadcast(envelope.to_bytes())
            code = await asyncio.wait_for(asyncio.shield(waiter), self.commit_timeout)
        finally:
            self.peer.cancel_wait(tx_id, waiter)
        if code is not ValidationCode.VALID:
            raise TransactionInvalid(tx_id, code.name)
        return SubmitResult(tx_id, decode_response(envelope.response).result, code)

    async def evaluate(self, contract: str, function: str, args: list[Any]) -> Any:
        """Run a query on the gateway's own peer."""
        return self.peer.query(contract, function, list(args), self.identity.cert)
