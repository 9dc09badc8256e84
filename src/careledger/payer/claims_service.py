"""A payer's claims desk: claims in (FHIR ``Claim`` or an 837), adjudicated on the ledger,
remittance out (835 and the member's ExplanationOfBenefit).

The desk is the off-chain half of the ``claims`` contract. It keeps what the ledger must not —
the claim as billed and the people on it (:class:`ClaimArchive`) — and sends the ledger form
(:func:`careledger.payer.ledger_form.ledger_form`: keyed hashes, codes, day numbers, cents).
The adjudication itself happens inside endorsement, the same on every endorser; the desk reads
the committed result back. After a claim is adjudicated its lines' cross-payer fingerprints are
recorded (:mod:`careledger.payer.fingerprints`) when the desk has a fingerprint service; a claim
that declares other coverage is coordination of benefits, never a cross-payer duplicate.

Remittance is a pure function of committed adjudications and the archive: the same claims and
payment give the same 835 bytes (:func:`remittance_835`), so replaying the chain reproduces every
835 a payer sent.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Protocol

import httpx
import msgspec

from careledger.contracts.payer.model import Claim, ClaimAdjudication, ClaimParties
from careledger.errors import CareLedgerError, InvalidInput
from careledger.payer.fingerprints import FingerprintClient, fingerprint_claim
from careledger.payer.ledger_form import ClaimKeyer, ledger_form
from careledger.payer.x12.claim837_map import ClaimDirectory
from careledger.payer.x12.inbound import Inbound837
from careledger.payer.x12.remit835 import Payment, RemittanceItem, write_835
from careledger.payer.x12.tokens import DEFAULT_LIMITS, Limits
from careledger.payer.x12.writer import Envelope

log = logging.getLogger(__name__)
VOID = "8"

Evaluate = Callable[[list[bytes]], Awaitable[list[bytes]]]


class Ledger(Protocol):
    """What the desk needs of a gateway."""

    async def submit(self, contract: str, function: str, args: list[Any]) -> Any: ...

    async def evaluate(self, contract: str, function: str, args: list[Any]) -> Any: ...


@dataclass(frozen=True)
class ArchivedClaim:
    """A claim as billed and the people on it: off chain, at the payer only (PHI)."""

    claim: Claim
    parties: ClaimParties
    filing_indicator: str = "CI"
    submitter: str = ""
    """The consortium organisation that sent the claim (it may read its remittance)."""
    payee_name: str = ""
    """The billing provider's name as the claim gave it (835 loop 1000B)."""


class ClaimArchive(Protocol):
    """The payer's off-chain store of the claims it adjudicated, by ledger claim key."""

    def put(self, claim_key: str, item: ArchivedClaim, digest: str = "") -> None:
        """Archive ``item`` as the claim under ``claim_key`` and, with ``digest`` (its ledger
        form's digest), as that version for good (a replacement keeps the original's)."""
        ...

    def get(self, claim_key: str) -> ArchivedClaim | None: ...

    def version(self, digest: str) -> ArchivedClaim | None:
        """The claim whose ledger form had ``digest``."""
        ...

    def find(self, *, billing_npi: str | None = None, member: str | None = None) -> list[str]:
        """Claim keys, in the order archived, of the claims billed by ``billing_npi`` and/or
        for ``member`` (a handle)."""
        ...


@dataclass
class MemoryClaimArchive:
    """An in-memory :class:`ClaimArchive` (tests, the demo)."""

    items: dict[str, ArchivedClaim] = field(default_factory=dict)
    versions: dict[str, ArchivedClaim] = field(default_factory=dict)

    def put(self, claim_key: str, item: ArchivedClaim, digest: str = "") -> None:
        self.items[claim_key] = item
        if digest:
            self.versions[digest] = item

    def get(self, claim_key: str) -> ArchivedClaim | None:
        return self.items.get(claim_key)

    def version(self, digest: str) -> ArchivedClaim | None:
        return self.versions.get(digest)

    def find(self, *, billing_npi: str | None = None, member: str | None = None) -> list[str]:
        return [
            key
            for key, item in self.items.items()
            if billing_npi in (None, item.claim.billing_npi) and member in (None, item.claim.member)
        ]


@dataclass(frozen=True)
class ClaimOutcome:
    """One claim's committed adjudication and what the cross-payer check found."""

    adjudication: ClaimAdjudication
    cross_payer_duplicates: list[str] = field(default_factory=list)
    """Organisations that recorded the same service first (not coordination of benefits)."""
    fingerprints_recorded: bool = True
    """False when the desk has a fingerprint service but it could not be reached or refused."""


@dataclass(frozen=True)
class Receipt837:
    """What a received 837 produced: the 999, the 277CA and each accepted claim's outcome."""

    ack_999: bytes
    status_277ca: bytes
    outcomes: list[ClaimOutcome]
    accepted_sets: int
    rejected_sets: int


class ClaimsDesk:
    """One payer organisation's claims intake and remittance."""

    def __init__(
        self,
        ledger: Ledger,
        keyer: ClaimKeyer,
        archive: ClaimArchive | None = None,
        *,
        fingerprints: Evaluate | None = None,
    ) -> None:
        self._ledger = ledger
        self._keyer = keyer
        self.archive: ClaimArchive = archive if archive is not None else MemoryClaimArchive()
        self._evaluate = fingerprints
        self._client = FingerprintClient()

    async def adjudicate(
        self,
        claim: Claim,
        parties: ClaimParties,
        *,
        filing_indicator: str = "CI",
        submitter: str = "",
        payee_name: str = "",
    ) -> ClaimOutcome:
        """Adjudicate one claim on the ledger (:class:`InvalidInput` if it is malformed; the
        contract's refusals, e.g. a resubmitted claim number, raise as they come)."""
        submission = ledger_form(claim, self._keyer)
        done = await self._ledger.submit("claims", "submit", [msgspec.to_builtins(submission)])
        if claim.frequency_code == VOID:  # the answer is the reversal; nothing is adjudicated
            control = (getattr(done, "result", done) or {}).get("payer_claim_control_number")
            found = await self._ledger.evaluate("claims", "reversals", [submission.claim_key])
            reversal = next(
                (r for r in found or [] if r["payer_claim_control_number"] == control), None
            )
            if reversal is None:
                raise InvalidInput("the void was committed but its reversal is not readable")
            return ClaimOutcome(msgspec.convert(reversal, ClaimAdjudication))
        adjudication = await self.adjudication(submission.claim_key)
        if adjudication is None:  # committed but not readable: a fault, not a result
            raise InvalidInput("the claim was committed but its adjudication is not readable")
        self.archive.put(
            submission.claim_key,
            ArchivedClaim(claim, parties, filing_indicator, submitter, payee_name),
            submission.digest,
        )
        if self._evaluate is None:
            return ClaimOutcome(adjudication)
        try:
            duplicates = await self._cross_payer(claim, parties)
        except (CareLedgerError, httpx.HTTPError) as exc:
            # The claim is adjudicated and committed: a fingerprint service that is down or
            # refuses (rate limit) must not turn that into a failure; the outcome says so.
            log.warning("cross-payer fingerprints not recorded for a claim: %s", exc)
            return ClaimOutcome(adjudication, fingerprints_recorded=False)
        return ClaimOutcome(adjudication, duplicates)

    async def review(self, claim_key: str, *, duplicate: bool) -> ClaimAdjudication:
        """The payer's decision on a claim pended as a suspect duplicate (``claims.review``):
        ``duplicate`` denies the suspect lines (OA 18), otherwise they are priced."""
        await self._ledger.submit("claims", "review", [claim_key, duplicate])
        adjudication = await self.adjudication(claim_key)
        if adjudication is None:
            raise InvalidInput("the review was committed but the adjudication is not readable")
        return adjudication

    async def adjudication(self, claim_key: str) -> ClaimAdjudication | None:
        found = await self._ledger.evaluate("claims", "adjudication", [claim_key])
        return None if found is None else msgspec.convert(found, ClaimAdjudication)

    async def receive_837(
        self,
        stream: BinaryIO,
        directory: ClaimDirectory,
        *,
        moment: datetime | None = None,
        submitter: str = "",
        concurrency: int = 32,
        limits: Limits = DEFAULT_LIMITS,
    ) -> Receipt837:
        """An 837 file: the 999 first (structure of the whole interchange), then the claims of
        the accepted sets adjudicated — one member's claims in file order (they move the same
        accumulators), members in parallel up to ``concurrency`` — then the 277CA. A claim the
        contract refuses (e.g. a claim number already adjudicated) is left out of the outcomes;
        the others go on."""
        with Inbound837(stream, directory=directory, moment=moment, limits=limits) as inbound:
            ack = inbound.acknowledge()
            accepted = [
                (parsed.claim, parsed.offchain.parties, parsed.offchain.billing.name)
                for parsed in inbound.claims()
                if parsed.claim is not None and parsed.offchain is not None
            ]
            status = inbound.status_report
        results = await self.adjudicate_many(accepted, submitter=submitter, concurrency=concurrency)
        outcomes = [r for r in results if isinstance(r, ClaimOutcome)]
        return Receipt837(ack.data, status, outcomes, ack.accepted_sets, ack.rejected_sets)

    async def adjudicate_many(
        self,
        claims: Sequence[tuple[Claim, ClaimParties, str]],
        *,
        submitter: str = "",
        concurrency: int = 32,
    ) -> list[ClaimOutcome | CareLedgerError]:
        """Adjudicate ``claims`` (claim, parties, payee name), each member's in the order given
        and members in parallel; one outcome or refusal per claim, in the order given."""
        queues: dict[str, list[int]] = {}
        for index, (claim, _parties, _payee) in enumerate(claims):
            queues.setdefault(claim.member, []).append(index)
        results: list[ClaimOutcome | CareLedgerError | None] = [None] * len(claims)
        gate = asyncio.Semaphore(max(1, concurrency))

        async def member_queue(indices: list[int]) -> None:
            async with gate:
                for index in indices:
                    claim, parties, payee = claims[index]
                    try:
                        results[index] = await self.adjudicate(
                            claim, parties, submitter=submitter, payee_name=payee
                        )
                    except CareLedgerError as exc:
                        results[index] = exc

        await asyncio.gather(*(member_queue(indices) for indices in queues.values()))
        return [r for r in results if r is not None]

    async def remittance_items(self, claim_keys: Sequence[str]) -> list[RemittanceItem]:
        """Committed adjudications joined with the archived claims, in the order given."""
        items = []
        for key in claim_keys:
            adjudication = await self.adjudication(key)
            archived = self.archive.get(key)
            if adjudication is None or archived is None:
                raise InvalidInput(f"no adjudicated claim {key[:12]}… at this payer")
            items.append(
                RemittanceItem(
                    adjudication=adjudication,
                    claim=archived.claim,
                    parties=archived.parties,
                    filing_indicator=archived.filing_indicator,
                )
            )
        return items

    async def _cross_payer(self, claim: Claim, parties: ClaimParties) -> list[str]:
        assert self._evaluate is not None
        prints = await fingerprint_claim(claim, parties, self._client, self._evaluate)
        cob = bool(claim.other_coverage)
        entries = [{"fingerprint": p, "cob": cob} for p in prints]
        result = await self._ledger.submit("claim_fingerprints", "record", [entries])
        matches = result.result if hasattr(result, "result") else result
        return sorted({payer for match in matches or [] for payer in match["payers"]})


def remittance_835(
    envelope: Envelope, payments: Sequence[tuple[Payment, Sequence[RemittanceItem]]]
) -> bytes:
    """One interchange with an 835 per (payment, claims): deterministic bytes."""
    out = io.BytesIO()
    write_835(out, envelope, payments)
    return out.getvalue()
