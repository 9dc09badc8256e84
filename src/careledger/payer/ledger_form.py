"""From a claim as billed to what the ledger may hold: :func:`ledger_form`.

The patient control number, the NPIs and the other payers' ids leave as keyed hashes (HMAC-SHA256
under the payer's *claim key*), diagnoses are dropped (adjudication here does not use them),
dates become day numbers and procedure codes get their X12 qualifier. The claim key is shared by a
payer with its trading partners, the way a payer and its submitters already share a trading
partner agreement; a consortium member that only reads the ledger cannot test guesses (an NPI, a
claim number) against the tokens. Equal inputs give equal tokens, which is all the within-payer
duplicate check needs.

Not here: cross-payer fingerprints (an OPRF service, issue 9) and X12/FHIR parsing.
"""

from __future__ import annotations

import hmac

import msgspec

from careledger.contracts.payer.model import (
    Claim,
    ClaimLine,
    ClaimSubmission,
    LedgerLine,
    LedgerOtherCoverage,
    day_number,
)
from careledger.crypto import encoding
from careledger.errors import InvalidInput

MIN_KEY_BYTES = 32


class ClaimKeyer:
    """Keyed tokens for one payer's claims (HMAC-SHA256, domain-separated by what is hashed)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise InvalidInput(f"a claim key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def token(self, kind: str, value: bytes | str) -> str:
        data = value.encode() if isinstance(value, str) else value
        mac = hmac.new(self._key, f"careledger/payer/{kind}/v1".encode() + b"\x00" + data, "sha256")
        return mac.hexdigest()

    def provider(self, npi: str) -> str:
        return self.token("npi", npi)

    def claim_key(self, claim: Claim) -> str:
        """The claim's ledger id: (payer, billing NPI, patient control number)."""
        return self.token("claim", f"{claim.payer}\x00{claim.billing_npi}\x00{claim.claim_id}")


def check_claim(claim: Claim) -> None:
    """What the types cannot say: totals, line order, date order, kind-specific fields.
    Raises :class:`InvalidInput` naming the field."""
    try:
        msgspec.convert(msgspec.to_builtins(claim), Claim, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"claim: {exc}") from None
    total = sum(line.charge_cents for line in claim.lines)
    if total != claim.total_charge_cents:
        raise InvalidInput(
            f"claim: total charge {claim.total_charge_cents} is not the sum of the lines ({total})"
        )
    numbers = [line.line for line in claim.lines]
    if numbers != sorted(set(numbers)):
        raise InvalidInput("claim.lines: line numbers must be unique and ascending")
    if claim.kind == "professional" and claim.facility_type is not None:
        raise InvalidInput("claim.facility_type: only an institutional claim has a facility type")
    for i, line in enumerate(claim.lines):
        _check_line(claim, line, f"claim.lines[{i}]")
    paid_before = sum(other.paid_cents for other in claim.other_coverage)
    if paid_before > claim.total_charge_cents:
        raise InvalidInput("claim.other_coverage: prior payers paid more than the claim charges")
    if claim.statement_from and claim.statement_to and claim.statement_to < claim.statement_from:
        raise InvalidInput("claim.statement_to: before statement_from")


def _check_line(claim: Claim, line: ClaimLine, where: str) -> None:
    if line.procedure_code is None and (claim.kind == "professional" or not line.revenue_code):
        raise InvalidInput(f"{where}: a line needs a procedure code (or, 837I, a revenue code)")
    if line.revenue_code is not None and claim.kind == "professional":
        raise InvalidInput(f"{where}.revenue_code: only institutional lines carry revenue codes")
    if line.service_to is not None and line.service_to < line.service_from:
        raise InvalidInput(f"{where}.service_to: before service_from")
    try:
        day_number(line.service_from)
        if line.service_to is not None:
            day_number(line.service_to)
    except ValueError:
        raise InvalidInput(f"{where}: not a calendar date") from None
    if any(p > len(claim.diagnoses) or p < 1 for p in line.diagnosis_pointers):
        raise InvalidInput(f"{where}.diagnosis_pointers: points past the claim's diagnoses")


def billing_code(line: ClaimLine) -> str:
    """``HC:<code>`` or, for an 837I revenue-code-only line, ``NU:<revenue code>``."""
    if line.procedure_code is not None:
        return f"HC:{line.procedure_code}"
    return f"NU:{line.revenue_code}"


def ledger_form(claim: Claim, keyer: ClaimKeyer) -> ClaimSubmission:
    """The :class:`ClaimSubmission` of ``claim`` (checked first, :class:`InvalidInput` if bad)."""
    check_claim(claim)
    claim_rendering = claim.rendering_npi or claim.billing_npi
    lines = [
        LedgerLine(
            line=line.line,
            code=billing_code(line),
            modifiers=list(line.modifiers),
            revenue_code=line.revenue_code,
            units=line.units,
            charge_cents=line.charge_cents,
            service_from=day_number(line.service_from),
            service_to=day_number(line.service_to or line.service_from),
            place_of_service=line.place_of_service or claim.place_of_service,
            rendering=keyer.provider(line.rendering_npi or claim_rendering),
        )
        for line in claim.lines
    ]
    others = [
        LedgerOtherCoverage(
            payer=keyer.token("payer", other.payer),
            responsibility=other.responsibility,
            relationship=other.relationship,
            paid_cents=other.paid_cents,
            adjustments=list(other.adjustments),
            adjudicated=other.adjudicated,
        )
        for other in claim.other_coverage
    ]
    return ClaimSubmission(
        claim_key=keyer.claim_key(claim),
        digest=claim_digest(claim, keyer),
        kind=claim.kind,
        frequency_code=claim.frequency_code,
        responsibility=claim.responsibility,
        member=claim.member,
        payer=claim.payer,
        billing=keyer.provider(claim.billing_npi),
        facility_type=claim.facility_type,
        prior_authorization=claim.prior_authorization,
        original_reference=claim.original_reference,
        other_coverage=others,
        total_charge_cents=claim.total_charge_cents,
        lines=lines,
    )


def claim_digest(claim: Claim, keyer: ClaimKeyer) -> str:
    """:attr:`ClaimSubmission.digest` of ``claim``: whoever holds the claim and the key proves
    it is the claim adjudicated on chain."""
    return keyer.token("claim-digest", encoding.encode(msgspec.to_builtins(claim)))
