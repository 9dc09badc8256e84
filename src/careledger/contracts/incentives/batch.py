"""Several awards in one transaction: the ``award_batch`` function of the ``incentives``
contract.

An awarder with many awards in flight sends them together (:mod:`careledger.incentives.
batching`): one proposal, one endorsement round, one envelope to validate instead of one per
award. Inside the transaction every award is decided exactly as a lone ``award`` would be, in
order, each seeing the writes of the ones before it — so a second award with the same evidence in
the same batch is refused ``evidence_replayed`` and the budget, caps and holder bindings hold
across the batch. Each award has its own result (``{"status": "awarded" | "rejected", …}``, in the
order given) and its own event (``reward_awarded`` or ``reward_rejected{code}``), under the
batch's transaction id. A *malformed* award (bad co-signature, unknown rule, amounts out of
range) raises for the whole batch, as it would alone: nothing is ordered, and the awarder then
sends the batch's awards one by one so that only the malformed one fails.
"""

from __future__ import annotations

import msgspec

from careledger.errors import InvalidInput

MAX_BATCH = 64
"""Awards per transaction: each emits one event, and a transaction carries at most 64
(``careledger.endorsement.simulator.MAX_EVENTS``)."""


class AwardItem(msgspec.Struct, frozen=True, array_like=True):
    """One award of a batch: the arguments of ``award`` after the campaign id."""

    member_key: str
    rule: str
    nullifier: str
    points: int
    evidence_digest: str
    holder_tag: str
    cosigner: bytes
    cosignature: bytes
    tranche: int


def check_batch(awards: list[AwardItem]) -> None:
    if not 1 <= len(awards) <= MAX_BATCH:
        raise InvalidInput(f"a batch holds 1 to {MAX_BATCH} awards, not {len(awards)}")
