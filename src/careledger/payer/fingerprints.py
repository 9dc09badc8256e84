"""Cross-payer claim fingerprints through an OPRF, so the ledger cannot be used to test guesses.

A claim line's *canonical key* (the patient, billing and rendering NPI, service dates,
procedure code, sorted modifiers, place of service, units, charge) is what makes two lines "the
same service". Hashing it with a static salt would let any member who can read the ledger
enumerate dates and codes for a patient they know, and confirm visits. Instead the
fingerprint is an oblivious pseudo-random function (2HashDH over Ristretto255, the construction
of RFC 9497's OPRF mode, through the ``oprf`` library on libsodium):

1. the payer hashes the key to a group element and *blinds* it with a random scalar
   (:meth:`FingerprintClient.blind`) — the service never sees the key;
2. the consortium's fingerprint service multiplies by its secret key
   (:meth:`FingerprintService.evaluate`) after metering the request on the ledger
   (``claim_fingerprints.meter``: per organisation and day, refused past the limit);
3. the payer unblinds and hashes the result with the key (:meth:`FingerprintClient.finalize`).

Only the service's key turns a guess into a fingerprint, and every evaluation is counted on the
ledger under the asking organisation: a guessing attack is rate-limited and visible. The service
operator holds the key and could enumerate on its own; run it in an organisation with no claims
of its own and rotate the key by re-fingerprinting (docs/payer.md, threat model).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import rbcl
from oprf import data, mask

from careledger.contracts.payer.model import Claim, ClaimParties
from careledger.crypto import encoding
from careledger.errors import InvalidInput

KEY_DOMAIN = b"careledger/payer/claim-line-key/v1\x00"
FINALIZE_DOMAIN = b"careledger/payer/fingerprint/v1\x00"
POINT_BYTES = 32
MAX_BATCH = 1000

Meter = Callable[[str, int], Awaitable[object]]
"""Charges ``count`` evaluations to an organisation; raises when the ledger refuses."""


def patient_identity(parties: ClaimParties) -> list[str]:
    """Who the service was for, the same at every payer: member handles are per payer (keyed by
    each payer's own secret), so the key uses the patient's normalised last and first name,
    birth date and sex — PHI that never leaves the payer except blinded."""
    last = parties.patient_last or parties.subscriber_last
    first = parties.patient_first if parties.patient_last else parties.subscriber_first
    return [_norm(last), _norm(first), parties.birth_date, parties.gender]


def line_keys(claim: Claim, parties: ClaimParties) -> list[bytes]:
    """The canonical key of each line, as deterministic CBOR (the duplicate-claim key of
    issue 9: patient, rendering and billing provider, dates, code, sorted modifiers, place of
    service, units, charge)."""
    who = patient_identity(parties)
    keys = []
    for line in claim.lines:
        key = [
            who,
            claim.billing_npi,
            line.rendering_npi or claim.rendering_npi or claim.billing_npi,
            line.service_from,
            line.service_to or line.service_from,
            line.procedure_code or f"rev:{line.revenue_code}",
            sorted(line.modifiers),
            line.place_of_service or claim.place_of_service or claim.facility_type or "",
            line.units,
            line.charge_cents,
        ]
        keys.append(KEY_DOMAIN + encoding.encode(key))
    return keys


@dataclass(frozen=True)
class Blinded:
    """What the client keeps between :meth:`FingerprintClient.blind` and ``finalize``."""

    keys: tuple[bytes, ...]
    scalars: tuple[mask, ...]
    elements: tuple[bytes, ...]
    """The blinded group elements to send to the service."""


class FingerprintClient:
    """A payer's side of the OPRF: blind, then finalize what the service returned."""

    def blind(self, keys: Sequence[bytes]) -> Blinded:
        if not 1 <= len(keys) <= MAX_BATCH:
            raise InvalidInput(f"fingerprint 1 to {MAX_BATCH} keys at a time")
        scalars = tuple(mask.random() for _ in keys)
        elements = tuple(bytes(r.mask(data.hash(k))) for r, k in zip(scalars, keys, strict=True))
        return Blinded(tuple(keys), scalars, elements)

    def finalize(self, blinded: Blinded, evaluated: Sequence[bytes]) -> list[str]:
        if len(evaluated) != len(blinded.keys):
            raise InvalidInput("the service answered a different number of elements")
        out = []
        for key, r, element in zip(blinded.keys, blinded.scalars, evaluated, strict=True):
            _check_point(element)
            unblinded = bytes(data(element) / r)
            digest = hashlib.sha256(FINALIZE_DOMAIN + _framed(key) + _framed(unblinded))
            out.append(digest.hexdigest())
        return out


class FingerprintService:
    """The consortium's OPRF evaluator. Holds the secret key; meters before it evaluates."""

    def __init__(self, key: bytes | None = None, *, meter: Meter) -> None:
        self._key = mask(key) if key is not None else mask.random()
        self._meter = meter

    @property
    def key_bytes(self) -> bytes:
        return bytes(self._key)

    async def evaluate(self, org: str, elements: Sequence[bytes]) -> list[bytes]:
        """Multiply each blinded element by the key, for ``org``, once the ledger has metered
        the batch (a refused meter raises and nothing is evaluated)."""
        if not 1 <= len(elements) <= MAX_BATCH:
            raise InvalidInput(f"evaluate 1 to {MAX_BATCH} elements at a time")
        for element in elements:
            _check_point(element)
        await self._meter(org, len(elements))
        return [bytes(self._key.mask(data(element))) for element in elements]


async def fingerprint_claim(
    claim: Claim,
    parties: ClaimParties,
    client: FingerprintClient,
    evaluate: Callable[[list[bytes]], Awaitable[list[bytes]]],
) -> list[str]:
    """One fingerprint per line of ``claim`` (the caller's ``evaluate`` reaches the service)."""
    blinded = client.blind(line_keys(claim, parties))
    return client.finalize(blinded, await evaluate(list(blinded.elements)))


def new_service_key() -> bytes:
    return bytes(mask.random())


def _check_point(element: bytes) -> None:
    """A canonical, non-identity Ristretto255 encoding (a hostile element is refused, not
    evaluated: the identity or a non-canonical encoding would leak or break the protocol)."""
    if (
        not isinstance(element, bytes | bytearray)
        or len(element) != POINT_BYTES
        or not any(element)
        or not rbcl.crypto_core_ristretto255_is_valid_point(bytes(element))
    ):
        raise InvalidInput("not a valid Ristretto255 group element")


def _norm(name: str) -> str:
    return "".join(ch for ch in name.upper() if ch.isalnum())


def _framed(value: bytes) -> bytes:
    return len(value).to_bytes(4, "big") + value


class Submitter(Protocol):
    async def submit(self, contract: str, function: str, args: list[Any]) -> object: ...


def ledger_meter(gateway: Submitter) -> Meter:
    """A :data:`Meter` that charges through the ``claim_fingerprints`` contract, submitted by
    the service organisation's gateway (it raises when the contract refuses)."""

    async def charge(org: str, count: int) -> object:
        return await gateway.submit("claim_fingerprints", "meter", [org, count])

    return charge
