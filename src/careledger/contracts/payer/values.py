"""The payer contracts' values: what the ``claims``, ``plans`` and ``prior_auth`` contracts take
and store, and the shapes they are typed with.

:class:`ClaimSubmission` / :class:`LedgerLine` are a claim in its ledger form (keyed tokens, day
numbers, billing codes, cents: see :mod:`careledger.payer.ledger_form`);
:class:`ClaimAdjudication` / :class:`LineAdjudication` / :class:`Adjustment` are its result (what
an 835 and an ExplanationOfBenefit are written from); :class:`AuthorizationRecord` is a prior
authorization as ``prior_auth`` stores it. The claim as billed (off chain) is
:mod:`careledger.contracts.payer.values`, which re-exports everything here.

Conventions: money is integer cents; dates are **day numbers** (:data:`Day`, days since
1970-01-01) — the PHI guard refuses date strings with a day; a procedure code is written as X12
qualifies it, ``HC:99213`` (:data:`BillingCode`) — a five-digit run alone would be refused as a
possible ZIP or MRN. Every string is a pattern or a code from a ``Literal``, so the strict PHI
layer accepts these types and no free text fits in them.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

import msgspec

from careledger.contracts.phi_guard import Handle, HexDigest, OrgId

ControlNumber = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{1,50}$")]
"""A payer claim control number (835 ``CLP07``, ``REF*F8`` when a claim refers to it)."""

Day = Annotated[int, msgspec.Meta(ge=0, le=2_932_896)]
"""Days since 1970-01-01 (on chain); 2_932_896 is 9999-12-31."""

Cents = Annotated[int, msgspec.Meta(ge=0, le=100_000_000_000)]
"""A non-negative amount in cents (at most one billion dollars)."""

SignedCents = Annotated[int, msgspec.Meta(ge=-100_000_000_000, le=100_000_000_000)]
"""An amount in cents that may be negative (an 835 reversal, a CAS that gives back)."""

BillingCode = Annotated[str, msgspec.Meta(pattern=r"^(HC:[0-9A-Z]{5}|NU:[0-9]{4})$")]
"""A billed service on chain: ``HC:<CPT/HCPCS>`` or, for an 837I line billed by revenue code
alone, ``NU:<revenue code>`` (the X12 product/service id qualifiers)."""

Modifier = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Z]{2}$")]

RevenueCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}$")]

PlaceOfService = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{2}$")]
"""CMS place of service (837P ``CLM05-1`` / ``SV105``): ``11`` office, ``21`` inpatient, …"""

FacilityType = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{2}$")]
"""837I ``CLM05-1``: the first two digits of the type of bill (``11`` hospital inpatient, …)."""

FrequencyCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Z]$")]
"""``CLM05-3`` claim frequency: ``1`` original, ``7`` replacement, ``8`` void (``0``-``9`` for
the 837I type-of-bill sequence)."""

AuthorizationNumber = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9-]{3,49}$")]
"""A prior authorization number (``REF*G1``) as the ``prior_auth`` contract issues it: starts with
a letter, no long digit runs (it is a ledger key)."""

Group = Literal["CO", "PR", "OA", "PI", "CR"]
"""CAS claim adjustment group: contractual obligation, patient responsibility, other adjustment,
payer-initiated reduction, correction/reversal."""

Carc = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{1,5}$")]
"""Claim Adjustment Reason Code (X12 code list 139)."""

Rarc = Annotated[str, msgspec.Meta(pattern=r"^[MN][A]?[0-9]{1,3}$")]
"""Remittance Advice Remark Code (``N130``, ``MA01``, ``M15``)."""

Responsibility = Literal["primary", "secondary", "tertiary"]
"""A payer's place in coordination of benefits (``SBR01`` P/S/T)."""

Relationship = Literal["self", "spouse", "child", "other"]
"""The member's relationship to a plan's subscriber (``SBR02``/``PAT01``)."""

ClaimStatus = Literal["1", "2", "3", "4", "22"]
"""835 ``CLP02``: 1 processed as primary, 2 as secondary, 3 as tertiary, 4 denied,
22 reversal of previous payment."""

Disposition = Literal["processed", "denied", "pended", "reversed"]
"""What happened: ``pended`` claims (suspect duplicates) get no 835 until reviewed;
``reversed`` is the reversal (``CLP02`` 22, amounts negated) of an earlier adjudication, made
by a void (frequency 8) or a replacement (7)."""


def day_number(iso: str) -> int:
    """The :data:`Day` of an ISO date (``ValueError`` if it is not one)."""
    return (date.fromisoformat(iso) - date(1970, 1, 1)).days


def iso_day(day: int) -> str:
    """The ISO date of a :data:`Day`."""
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


class Adjustment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One CAS adjustment: why part of a charge is not paid (or, as a prior payer's, was not)."""

    group: Group
    """CAS01 group code."""
    reason: Carc
    """CAS02 CARC: ``45`` charge exceeds fee schedule, ``1`` deductible, ``2`` coinsurance,
    ``3`` copay, ``18`` duplicate, ``23`` prior payer impact, ``27`` coverage terminated,
    ``29`` timely filing, ``96`` non-covered, ``197`` authorization absent, ``204`` not covered
    by this benefit plan … (docs/payer.md has the table)."""
    amount_cents: SignedCents
    """CAS03, in cents (negative only in a reversal)."""
    quantity: int | None = None
    """CAS04 units adjusted, when the adjustment is about units."""


class LedgerOtherCoverage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """:class:`OtherCoverage` as the ledger holds it (the other payer as a keyed token)."""

    payer: HexDigest
    responsibility: Responsibility
    relationship: Relationship
    paid_cents: Cents
    adjustments: Annotated[list[Adjustment], msgspec.Meta(max_length=99)]
    adjudicated: bool


class LedgerLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """:class:`ClaimLine` as the ledger holds it."""

    line: Annotated[int, msgspec.Meta(ge=1, le=999)]
    code: BillingCode
    modifiers: Annotated[list[Modifier], msgspec.Meta(max_length=4)]
    revenue_code: RevenueCode | None
    units: Annotated[int, msgspec.Meta(ge=1, le=9999)]
    charge_cents: Cents
    service_from: Day
    service_to: Day
    place_of_service: PlaceOfService | None
    """Line POS, else the claim's (837P), else None."""
    rendering: HexDigest
    """Keyed token of the line's rendering NPI (falls back to the claim's, then billing)."""


class ClaimSubmission(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the ``claims`` contract adjudicates and the block records."""

    claim_key: HexDigest
    """Keyed hash of (payer, billing NPI, patient control number): the claim's ledger id."""
    digest: HexDigest
    """Keyed hash of the whole canonical :class:`Claim` (proves the off-chain claim)."""
    kind: Literal["professional", "institutional"]
    frequency_code: FrequencyCode
    responsibility: Responsibility
    member: Handle
    payer: OrgId
    billing: HexDigest
    """Keyed token of the billing NPI."""
    facility_type: FacilityType | None
    prior_authorization: AuthorizationNumber | None
    original_reference: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{1,50}$")] | None
    other_coverage: Annotated[list[LedgerOtherCoverage], msgspec.Meta(max_length=2)]
    total_charge_cents: Cents
    lines: Annotated[list[LedgerLine], msgspec.Meta(min_length=1, max_length=999)]


class LineAdjudication(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One line's result (835 ``SVC`` + ``CAS`` + ``LQ``). Balances:
    ``charge_cents == paid_cents + sum(a.amount_cents for a in adjustments)``."""

    line: int
    """The claim line number (835 ``REF*6R``)."""
    code: BillingCode
    modifiers: list[Modifier]
    charge_cents: SignedCents
    """Negative only in a reversal, like every amount here."""
    allowed_cents: SignedCents
    """Allowed amount (835 ``AMT*B6``)."""
    paid_cents: SignedCents
    adjustments: list[Adjustment]
    remarks: list[Rarc]
    """RARCs (835 ``LQ*HE``)."""
    units_paid: int
    """835 ``SVC05``."""


class ClaimAdjudication(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A claim's adjudication, stored on chain by the ``claims`` contract (``adjudication/<key>``).
    Balances: ``total_charge_cents == paid_cents + sum of every line and claim adjustment``."""

    claim_key: HexDigest
    digest: HexDigest
    """:attr:`ClaimSubmission.digest` of the claim adjudicated."""
    payer: OrgId
    member: Handle
    plan: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")] | None
    """The plan id the member was covered by (None when no coverage was found)."""
    plan_year: int
    """Accumulator year (0 when no coverage was found)."""
    status: ClaimStatus
    """835 ``CLP02``."""
    disposition: Disposition
    total_charge_cents: SignedCents
    """``CLP03`` (negative only in a reversal, like every amount here)."""
    paid_cents: SignedCents
    """``CLP04``."""
    patient_responsibility_cents: SignedCents
    """``CLP05``: the sum of PR adjustments."""
    lines: list[LineAdjudication]
    adjustments: list[Adjustment]
    """Claim-level CAS (none in this engine's results: every amount is explained per line)."""
    remarks: list[Rarc]
    """Claim-level RARCs (835 ``MOA``/``MIA``)."""
    payer_claim_control_number: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{1,50}$")]
    """``CLP07``, derived from the transaction id."""
    adjudicated: Day
    """Adjudication date (from the proposal timestamp)."""
    related: HexDigest | None = None
    """The earlier claim this one duplicates (OA 18) or is suspected to duplicate (pended)."""
    prior_authorization: AuthorizationNumber | None = None
    """The authorization whose units the claim used (``REF*G1``), so a reversal gives them back."""
    submitter: OrgId | None = None
    """The organisation that submitted the claim: it (or the payer) may replace or void it."""


class AuthorizationRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A prior authorization as the ``prior_auth`` contract stores it at
    ``authorization/<number>``; the ``claims`` contract reads it cross-namespace."""

    number: AuthorizationNumber
    payer: OrgId
    member: Handle
    codes: Annotated[list[BillingCode], msgspec.Meta(min_length=1, max_length=50)]
    """Services authorized, as billing codes (``HC:27447``)."""
    units: Annotated[int, msgspec.Meta(ge=0, le=9999)]
    """Units authorized in total over the period."""
    start: Day
    end: Day
    """Inclusive authorization period."""
    status: Literal["approved", "partial", "denied", "pended", "cancelled"]
