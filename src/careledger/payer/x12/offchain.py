"""What an 837 carries beyond the canonical claim: the people and places, kept off chain.

:class:`careledger.contracts.payer.model.Claim` holds what adjudication needs;
:class:`ClaimOffChain` holds the rest of what the X12 documents must repeat (a 277CA names the
patient, an 835 the patient and payee, a re-emitted 837 everything): member id, names, birth date
and addresses (PHI), and the provider and payer names and addresses (not PHI, but not the ledger's
business either). Nothing here is a contract argument; a node keeps it in its own off-chain store
next to the claim.
"""

from __future__ import annotations

import msgspec

from careledger.contracts.payer.model import ClaimParties


class Address(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """N3/N4."""

    line1: str
    city: str
    state: str = ""
    postal_code: str = ""
    line2: str = ""


class ProviderParty(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A provider or organisation as NM1 (+ N3/N4, REF*EI) names it."""

    name: str
    npi: str = ""
    first_name: str = ""
    entity_type: str = "2"  # NM102: 1 person, 2 non-person
    tax_id: str = ""
    address: Address | None = None
    taxonomy: str = ""  # PRV03


class SubmissionHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """BHT and loops 1000A/1000B: who sent the 837 to whom."""

    reference: str  # BHT03
    created: str  # BHT04, YYYY-MM-DD
    submitter_name: str
    submitter_id: str
    receiver_name: str
    receiver_id: str
    contact_name: str = ""
    contact_phone: str = ""


class ClaimOffChain(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything of one 837 claim that is not in the canonical :class:`Claim`. PHI."""

    parties: ClaimParties
    billing: ProviderParty
    payer_name: str
    payer_id: str
    submission: SubmissionHeader
    subscriber_address: Address | None = None
    patient_address: Address | None = None
    filing_indicator: str = "CI"  # SBR09
    group_number: str = ""  # SBR03
    #: CLM06..CLM09: provider signature, assignment, benefits assignment, release of information.
    claim_flags: tuple[str, str, str, str] = ("Y", "A", "Y", "I")
    #: ICD-9 diagnoses (HI BK/BF) of claims from before ICD-10; the canonical model is ICD-10.
    icd9_diagnoses: tuple[str, ...] = ()
    rendering: ProviderParty | None = None  # 2310B (837P) / 2310D (837I) NM1*82
    admission_type: str = ""  # 837I CL1-01
    admission_source: str = ""  # CL1-02
    patient_status: str = ""  # CL1-03
