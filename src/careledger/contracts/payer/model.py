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

from typing import Annotated, Literal

import msgspec

from careledger.contracts.payer.values import (
    Adjustment,
    AuthorizationNumber,
    AuthorizationRecord,
    BillingCode,
    Carc,
    Cents,
    ClaimAdjudication,
    ClaimStatus,
    ClaimSubmission,
    ControlNumber,
    Day,
    Disposition,
    FacilityType,
    FrequencyCode,
    Group,
    LedgerLine,
    LedgerOtherCoverage,
    LineAdjudication,
    Modifier,
    PlaceOfService,
    Rarc,
    Relationship,
    Responsibility,
    RevenueCode,
    SignedCents,
    day_number,
    iso_day,
)
from careledger.contracts.phi_guard import Handle, OrgId

__all__ = [
    "Adjustment", "AuthorizationNumber", "AuthorizationRecord", "BillingCode", "Carc", "Cents",
    "Claim", "ClaimAdjudication", "ClaimLine", "ClaimNumber", "ClaimParties", "ClaimStatus",
    "ClaimSubmission", "ControlNumber", "Day", "DiagnosisCode", "Disposition", "FacilityType",
    "FrequencyCode", "Group", "IsoDate", "LedgerLine", "LedgerOtherCoverage", "LineAdjudication",
    "Modifier", "Npi", "OtherCoverage", "PayerRef", "PlaceOfService", "ProcedureCode", "Rarc",
    "Relationship", "Responsibility", "RevenueCode", "SignedCents", "day_number", "iso_day",
]  # fmt: skip

# --- shapes of the claim as billed (the ledger's are in careledger.contracts.payer.values) ----

IsoDate = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
]
"""``YYYY-MM-DD`` (off chain)."""

Npi = Annotated[str, msgspec.Meta(pattern=r"^[12][0-9]{9}$")]
"""A National Provider Identifier (10 digits, off chain; on chain only as a keyed token)."""

ProcedureCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Z]{5}$")]
"""A CPT (``99213``, ``0001F``) or HCPCS Level II (``J1100``) code, as billed."""

DiagnosisCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z][0-9][0-9A-Z]([0-9A-Z]{1,4})?$")]
"""ICD-10-CM without the dot, as X12 writes it (``E119``); off chain only."""

ClaimNumber = Annotated[str, msgspec.Meta(pattern=r"^[!-~]{1,38}$")]
"""The patient control number (``CLM01``, FHIR ``Claim.identifier``): up to 38 printable
characters, off chain only."""

PayerRef = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,80}$")]
"""Another payer's identifier as declared on the claim (``NM1*PR`` ``NM109``), off chain."""


# --- the claim as billed (off chain) ----------------------------------------------------------


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
