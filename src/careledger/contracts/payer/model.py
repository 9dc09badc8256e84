"""The canonical claim model: one shape for a FHIR ``Claim`` (use=claim), an X12 837P and an 837I,
and the shape of its adjudication (what an 835 ``CLP``/``SVC``/``CAS`` and a CARIN Blue Button
``ExplanationOfBenefit`` are written from).

Three layers, kept apart so PHI cannot reach the ledger by accident:

* :class:`Claim` / :class:`ClaimLine` — the claim as the provider bills it, **off chain** (the
  X12 and FHIR mappers build it). It holds no names, birth dates or member ids: the member is the
  pseudonymous :data:`~careledger.contracts.phi_guard.Handle`. It still holds identifiers that
  must not go on chain in clear: the patient control number (``CLM01``), NPIs, diagnoses, dates of
  service as ISO dates.
* :class:`ClaimParties` — the people on the claim (names, birth date, member id) for the X12 and
  FHIR documents. Off chain only; no contract accepts it.
* :class:`ClaimSubmission` (built by :func:`careledger.payer.ledger_form.ledger_form`) — what the
  ``claims`` contract receives and the block records: keyed hashes instead of the claim number and
  NPIs, billing codes, day numbers, integer cents. :class:`ClaimAdjudication` is the result the
  contract stores; :class:`AuthorizationRecord` is what the ``prior_auth`` contract stores.

Conventions: money is integer **cents** (never floats); dates are ISO ``YYYY-MM-DD`` off chain and
**day numbers** (days since 1970-01-01, :data:`Day`) on chain — the PHI guard refuses date strings
with a day, and the ledger needs the day for eligibility, timely filing and authorization periods
(see docs/payer.md, "What the ledger holds"). A procedure code on chain is written as X12 writes
it in ``SV101``/``SV202``: ``HC:99213`` (:data:`BillingCode`); a five-digit run alone would be
refused by the PHI guard as a possible ZIP or MRN.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

import msgspec

from careledger.contracts.phi_guard import Handle, HexDigest, OrgId

# --- shapes -----------------------------------------------------------------------------------

IsoDate = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
]
"""``YYYY-MM-DD`` (off chain)."""

Day = Annotated[int, msgspec.Meta(ge=0, le=2_932_896)]
"""Days since 1970-01-01 (on chain); 2_932_896 is 9999-12-31."""

Cents = Annotated[int, msgspec.Meta(ge=0, le=100_000_000_000)]
"""A non-negative amount in cents (at most one billion dollars)."""

SignedCents = Annotated[int, msgspec.Meta(ge=-100_000_000_000, le=100_000_000_000)]
"""An amount in cents that may be negative (an 835 reversal, a CAS that gives back)."""

Npi = Annotated[str, msgspec.Meta(pattern=r"^[12][0-9]{9}$")]
"""A National Provider Identifier (10 digits, off chain; on chain only as a keyed token)."""

ProcedureCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Z]{5}$")]
"""A CPT (``99213``, ``0001F``) or HCPCS Level II (``J1100``) code, as billed."""

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
DiagnosisCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z][0-9][0-9A-Z]([0-9A-Z]{1,4})?$")]
"""ICD-10-CM without the dot, as X12 writes it (``E119``); off chain only."""
ClaimNumber = Annotated[str, msgspec.Meta(pattern=r"^[!-~]{1,38}$")]
"""The patient control number (``CLM01``, FHIR ``Claim.identifier``): up to 38 printable
characters, off chain only."""
AuthorizationNumber = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9-]{3,49}$")]
"""A prior authorization number (``REF*G1``) as the ``prior_auth`` contract issues it: starts with
a letter, no long digit runs (it is a ledger key)."""
PayerRef = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,80}$")]
"""Another payer's identifier as declared on the claim (``NM1*PR`` ``NM109``), off chain."""
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


# --- the claim as billed (off chain) ----------------------------------------------------------


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


class OtherCoverage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Another payer declared on the claim (837 loop 2320/2330B, FHIR ``Claim.insurance``)."""

    payer: PayerRef
    """The other payer's id (``NM109`` of 2330B); hashed before the ledger."""
    responsibility: Responsibility
    """That payer's place as declared by the provider (2320 ``SBR01``)."""
    relationship: Relationship
    """The member's relationship to that payer's subscriber (2320 ``SBR02``)."""
    paid_cents: Cents = 0
    """What that payer paid on the claim (2320 ``AMT*D``); 0 when it has not adjudicated."""
    adjustments: list[Adjustment] = msgspec.field(default_factory=list)
    """That payer's claim-level CAS (2320 ``CAS``), carried for the record."""
    adjudicated: bool = False
    """True when that payer's adjudication is reported (2330B ``DTP*573`` present)."""


class ClaimLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One service line (837P 2400 ``SV1``, 837I 2400 ``SV2``, FHIR ``Claim.item``)."""

    line: Annotated[int, msgspec.Meta(ge=1, le=999)]
    """``LX01`` / ``item.sequence``."""
    procedure_code: ProcedureCode | None
    """CPT/HCPCS (``SV101-2``/``SV202-2``); None only on an 837I line billed by revenue code."""
    charge_cents: Cents
    """``SV102``/``SV203`` line charge."""
    units: Annotated[int, msgspec.Meta(ge=1, le=9999)]
    """``SV104``/``SV205`` units (whole units; fractional units are refused by the mappers)."""
    service_from: IsoDate
    """``DTP*472`` first day of service."""
    service_to: IsoDate | None = None
    """Last day of service (None: same as ``service_from``)."""
    modifiers: Annotated[list[Modifier], msgspec.Meta(max_length=4)] = msgspec.field(
        default_factory=list
    )
    """``SV101-3``..``-6``, in billed order."""
    revenue_code: RevenueCode | None = None
    """``SV201`` (837I only)."""
    place_of_service: PlaceOfService | None = None
    """``SV105`` override of the claim's place of service."""
    rendering_npi: Npi | None = None
    """2420A rendering provider override."""
    diagnosis_pointers: Annotated[list[int], msgspec.Meta(max_length=4)] = msgspec.field(
        default_factory=list
    )
    """``SV107`` pointers (1-based) into :attr:`Claim.diagnoses`."""


class Claim(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A claim as billed: FHIR ``Claim`` (use=claim), 837P or 837I. No PHI beyond identifiers
    that :func:`~careledger.payer.ledger_form.ledger_form` hashes or drops."""

    claim_id: ClaimNumber
    """Patient control number (``CLM01``, ``Claim.identifier``)."""
    kind: Literal["professional", "institutional"]
    """837P / FHIR ``Claim.type`` professional, or 837I / institutional."""
    member: Handle
    """The member's pseudonymous handle (never the member id)."""
    payer: OrgId
    """The consortium organisation adjudicating (2010BB ``NM109`` mapped to the org)."""
    billing_npi: Npi
    """2010AA billing provider."""
    lines: Annotated[list[ClaimLine], msgspec.Meta(min_length=1, max_length=999)]
    total_charge_cents: Cents
    """``CLM02``: equals the sum of the line charges (checked)."""
    frequency_code: FrequencyCode = "1"
    responsibility: Responsibility = "primary"
    """This payer's place as the provider declares it (2000B ``SBR01``); the ``claims`` contract
    re-derives it from the coverage and the other coverage declared (docs/payer.md, COB)."""
    rendering_npi: Npi | None = None
    """2310B rendering provider (None: the billing provider renders)."""
    place_of_service: PlaceOfService | None = None
    """837P ``CLM05-1``."""
    facility_type: FacilityType | None = None
    """837I ``CLM05-1``."""
    diagnoses: Annotated[list[DiagnosisCode], msgspec.Meta(max_length=12)] = msgspec.field(
        default_factory=list
    )
    """``HI`` principal first; off chain only (not needed to adjudicate here)."""
    prior_authorization: AuthorizationNumber | None = None
    """``REF*G1`` / ``Claim.insurance.preAuthRef``."""
    original_reference: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{1,50}$")] | None = None
    """``REF*F8`` payer claim control number of the claim a replacement/void refers to."""
    other_coverage: Annotated[list[OtherCoverage], msgspec.Meta(max_length=2)] = msgspec.field(
        default_factory=list
    )
    """Other payers declared for coordination of benefits."""
    created: IsoDate | None = None
    """``BHT04`` / ``Claim.created``."""
    received: IsoDate | None = None
    """When the payer received it; the ``claims`` contract uses the proposal timestamp."""
    statement_from: IsoDate | None = None
    """837I ``DTP*434`` statement period start."""
    statement_to: IsoDate | None = None


class ClaimParties(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The people on a claim, for X12/FHIR documents. PHI: off chain only, never a contract
    argument (the ``claims`` contract's types cannot hold it)."""

    member_id: str
    """The payer's member id (2010BA ``NM109``)."""
    subscriber_last: str
    subscriber_first: str = ""
    patient_last: str = ""
    """Empty when the patient is the subscriber."""
    patient_first: str = ""
    birth_date: str = ""
    """``YYYY-MM-DD`` (``DMG02``)."""
    gender: Literal["M", "F", "U"] = "U"
    relationship: Relationship = "self"


# --- on chain ---------------------------------------------------------------------------------


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
