"""Many signed proposals in one request (``POST /v1/submit-batch``), each with its own outcome.

Per-request HTTP, routing and JSON cost on the client and the node was a measured share of
``bench network`` (docs/benchmarks.md); a client with many transactions to submit (an ingest
pipeline, a payer's claim run) sends them in one request and gets one outcome per entry.

Each entry is what ``POST /v1/submit`` takes and gets what it would get: the creator's
membership and signature are checked, the proposal is endorsed, ordered and waited for; the
entries run concurrently, so the node's gateway batches their endorsements and tx-stream
messages. An entry is refused on its own, with the error a single submit would answer
(``type``, ``error``; ``code`` and ``tx_id`` for a transaction committed invalid), and never
affects another entry: a forged signature, an unknown creator, a proposal already committed
(a replayed entry or batch), the same proposal twice in the batch (the second), bad base64.
More than :data:`MAX_SUBMIT_BATCH` entries: every entry is refused.

Not for: HTTP concerns (:mod:`careledger.api.app`) or one submit (:mod:`careledger.api.service`).
"""

from __future__ import annotations

import asyncio
import logging

from careledger.api.errors import error_body
from careledger.api.models import SubmitItemOut
from careledger.api.service import NodeService
from careledger.errors import CareLedgerError, InvalidInput
from careledger.ledger.transaction import tx_id_of

log = logging.getLogger(__name__)

#: Most entries one batch may carry.
MAX_SUBMIT_BATCH = 256

Entry = tuple[bytes, bytes] | CareLedgerError
"""A decoded entry (proposal, signature), or why it could not be decoded."""


def refused(error: BaseException, tx_id: str = "") -> SubmitItemOut:
    body = error_body(error)
    return SubmitItemOut(
        tx_id=body.get("tx_id", tx_id),
        code=body.get("code"),
        error=body["error"],
        type=body["type"],
    )


async def submit_batch(service: NodeService, entries: list[Entry]) -> list[SubmitItemOut]:
    """Submit every entry concurrently; one outcome per entry, in order (never raises for one
    entry's failure)."""
    if len(entries) > MAX_SUBMIT_BATCH:
        over = InvalidInput(
            f"batch of {len(entries)} entries is over the limit of {MAX_SUBMIT_BATCH}"
        )
        return [refused(over)] * len(entries)
    seen: set[str] = set()
    work: list[asyncio.Future[SubmitItemOut] | SubmitItemOut] = []
    for entry in entries:
        if isinstance(entry, CareLedgerError):
            work.append(refused(entry))
            continue
        tx_id = tx_id_of(entry[0])
        if tx_id in seen:
            twice = InvalidInput(f"transaction {tx_id} appears twice in the batch")
            work.append(refused(twice, tx_id))
            continue
        seen.add(tx_id)
        work.append(asyncio.ensure_future(_one(service, tx_id, entry)))
    return [w if isinstance(w, SubmitItemOut) else await w for w in work]


async def _one(service: NodeService, tx_id: str, entry: tuple[bytes, bytes]) -> SubmitItemOut:
    try:
        out = await service.submit(*entry)
    except CareLedgerError as exc:
        return refused(exc, tx_id)
    except Exception as exc:  # one entry's bug must not fail the others; logged, not shown
        log.exception("submit-batch entry %s failed", tx_id)
        return refused(exc, tx_id)
    return SubmitItemOut(tx_id=out.tx_id, code=out.code, block=out.block, result=out.result)
