"""The ``claim_fingerprints`` contract: cross-payer duplicate claims, without PHI on chain.

A payer records one *fingerprint* per claim line: an OPRF output (see
:mod:`careledger.payer.fingerprints`) of the line's canonical key under a key that only the
consortium's fingerprint service holds. The ledger holds the fingerprint, the payer and the day —
nothing a member could test a guess against: computing the fingerprint of a guessed (patient,
date, code) needs the service, and every evaluation the service makes for an organisation is
metered here first (:meth:`ClaimFingerprints.meter`), per organisation and day, against the
limit the service registered. The meter is the audit trail of who asked how much.

A fingerprint already recorded by *another* payer is a cross-payer duplicate — unless either
claim declared other coverage: that is coordination of benefits (two payers are meant to see
the same service), never a duplicate. Recording is idempotent per (fingerprint, payer).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query
from careledger.contracts.phi_guard import Count, HexDigest, OrgId, check_schema, check_struct
from careledger.errors import ContractError

NAMESPACE = "claim_fingerprints"
DAY_MS = 86_400_000
MAX_BATCH = 1000
DEFAULT_DAILY_LIMIT = 20_000

DailyLimit = Annotated[int, msgspec.Meta(ge=1, le=10_000_000)]
Day = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]


class ServiceRecord(msgspec.Struct, frozen=True):
    """The organisation running the fingerprint service and its per-organisation daily limit."""

    org: OrgId
    daily_limit: DailyLimit


class MeterRecord(msgspec.Struct, frozen=True):
    """Evaluations the service made for one organisation on one day."""

    used: Count


class Sighting(msgspec.Struct, frozen=True):
    """One payer recorded this fingerprint (on ``day``, days since the epoch)."""

    payer: OrgId
    day: Day
    cob: bool


class FingerprintInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    fingerprint: HexDigest
    cob: bool = False
    """The claim declared other coverage (coordination of benefits)."""


class Match(msgspec.Struct, frozen=True):
    """A fingerprint another payer recorded first: a suspected cross-payer duplicate."""

    fingerprint: HexDigest
    payers: list[OrgId]


for _schema in (ServiceRecord, MeterRecord, Sighting, FingerprintInput, Match):
    check_schema(_schema)


def _day(stub: Stub) -> int:
    return stub.timestamp // DAY_MS


class ClaimFingerprints(Contract):
    name = NAMESPACE
    version = "1.0"
    schemas = {"service": ServiceRecord, "meter": MeterRecord, "fp": Sighting}

    @invoke
    def register_service(self, stub: Stub, daily_limit: DailyLimit) -> ServiceRecord:
        """The first caller's organisation runs the service; only it may change the limit."""
        current = stub.get("service")
        if current is not None and current.org != stub.creator.org:
            raise ContractError(f"the fingerprint service is run by {current.org}")
        record = ServiceRecord(stub.creator.org, daily_limit)
        check_struct(record)
        stub.put("service", record)
        return record

    @invoke
    def meter(self, stub: Stub, org: OrgId, count: Count) -> int:
        """Charge ``count`` evaluations to ``org`` for today (service only); refused past the
        limit, so the service evaluates nothing it could not meter. Returns what is left."""
        service = stub.get("service")
        if service is None or service.org != stub.creator.org:
            raise ContractError("only the registered fingerprint service meters evaluations")
        if not 1 <= count <= MAX_BATCH:
            raise ContractError(f"a batch is 1 to {MAX_BATCH} evaluations")
        key = _meter_key(org, _day(stub))
        used = stub.get(key)
        total = (used.used if used else 0) + count
        if total > service.daily_limit:
            stub.emit("fingerprint.rate_limited", {"org": org, "requested": count})
            raise ContractError(
                f"rate_limited: {org} may have {service.daily_limit} fingerprint evaluations a "
                f"day; {total - count} used today"
            )
        stub.put(key, MeterRecord(total))
        return int(service.daily_limit - total)

    @invoke
    def record(self, stub: Stub, entries: list[FingerprintInput]) -> list[Match]:
        """Record the creator organisation's fingerprints; return those another payer recorded
        (not counting coordination of benefits) and emit ``claim.cross_payer_duplicate``."""
        if not 1 <= len(entries) <= MAX_BATCH:
            raise ContractError(f"record takes 1 to {MAX_BATCH} fingerprints")
        payer = stub.creator.org
        matches: list[Match] = []
        for entry in entries:
            prefix = f"fp/{entry.fingerprint}/"
            others = [
                sighting
                for key, sighting in stub.range(prefix, _end(prefix))
                if not key.endswith(f"/{payer}")
            ]
            if stub.get(f"{prefix}{payer}") is None:
                stub.put(f"{prefix}{payer}", Sighting(payer, _day(stub), entry.cob))
            duplicates = sorted(
                {o.payer for o in others if not (o.cob or entry.cob)},
            )
            if duplicates:
                matches.append(Match(entry.fingerprint, duplicates))
                stub.emit(
                    "claim.cross_payer_duplicate",
                    {"fingerprint": entry.fingerprint, "payer": payer, "others": duplicates},
                )
        return matches

    @query
    def service(self, stub: Stub) -> ServiceRecord | None:
        """The organisation running the fingerprint service (None before one registers)."""
        record: ServiceRecord | None = stub.get("service")
        return record

    @query
    def sightings(self, stub: Stub, fingerprint: HexDigest) -> list[Sighting]:
        prefix = f"fp/{fingerprint}/"
        return [value for _, value in stub.range(prefix, _end(prefix))]

    @query
    def usage(self, stub: Stub, org: OrgId, day: Day) -> int:
        used = stub.get(_meter_key(org, day))
        return int(used.used) if used else 0


def _meter_key(org: str, day: int) -> str:
    # The day in hex: a run of five decimal digits in a key reads as an identifier to the guard.
    return f"meter/{org}/d{day:x}"


def _end(prefix: str) -> str:
    """The first key after every key starting with ``prefix`` (which ends in ``/``)."""
    return prefix[:-1] + "0"
