"""Submitting many claims (an 837 file, a batch) to the ``claims`` contract.

Two claims of one member move the same accumulators and the same duplicate index: in one block
the second is an MVCC conflict, and a burst of them exhausts the gateway's retries. Payers
adjudicate a member's claims one after another for the same reason. :func:`submit_claims` does
that — one queue per member, in file order, members in parallel up to ``concurrency`` — and
returns one outcome per claim in the order given: the contract's summary, or the error that
refused it (a refusal of one claim does not stop the others).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from careledger.contracts.payer.model import ClaimSubmission
from careledger.errors import CareLedgerError

Submit = Callable[[str, str, list[Any]], Awaitable[Any]]
"""``Gateway.submit`` or anything shaped like it: (contract, function, args) → result with a
``result`` attribute (the contract's return value)."""


async def submit_claims(
    submit: Submit, claims: Sequence[ClaimSubmission], concurrency: int = 64
) -> list[dict[str, Any] | CareLedgerError]:
    """Submit ``claims``, each member's in order; one summary or refusal per claim."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    queues: dict[str, list[int]] = {}
    for i, claim in enumerate(claims):
        queues.setdefault(claim.member, []).append(i)
    outcomes: list[dict[str, Any] | CareLedgerError] = [
        CareLedgerError("not submitted") for _ in claims
    ]
    gate = asyncio.Semaphore(concurrency)

    async def member_queue(indexes: list[int]) -> None:
        async with gate:
            for i in indexes:
                try:
                    done = await submit("claims", "submit", [msgspec.to_builtins(claims[i])])
                    outcomes[i] = done.result
                except CareLedgerError as exc:
                    outcomes[i] = exc

    await asyncio.gather(*(member_queue(indexes) for indexes in queues.values()))
    return outcomes
