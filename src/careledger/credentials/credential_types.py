"""Healthcare credential types: schemas (validated at issuance), FHIR mapping and issuance helpers.

Built-ins — insurance coverage (payer → member), immunization (provider → patient) and practitioner
licence (licensing board → practitioner) — are registered through :func:`register_credential_type`,
the same hook a plugin uses. Each type is issuable as a W3C VC with a Data Integrity proof or as an
SD-JWT VC whose claims are all selectively disclosable by default.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any

import msgspec

from careledger.credentials import sd_jwt
from careledger.credentials.data_integrity import Cryptosuite, ProofOptions, add_proof, xsd_datetime
from careledger.credentials.document_loader import CREDENTIALS_V2, HEALTH_V1
from careledger.credentials.errors import SchemaError
from careledger.identity.did.keys import Ed25519Signer

_Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/#-]+$")]
_Did = Annotated[str, msgspec.Meta(pattern=r"^did:[a-z0-9]+:.+$", max_length=512)]


class InsuranceCoverage(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """FHIR Coverage: subscriberId, class[plan], payor, period."""

    member_id: _Id
    plan_id: _Id
    plan_name: _Text
    payer_id: _Did
    payer_name: _Text
    coverage_start: date
    coverage_end: date | None = None

    def __post_init__(self) -> None:
        if self.coverage_end is not None and self.coverage_end < self.coverage_start:
            raise ValueError("coverageEnd is before coverageStart")


class Immunization(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """FHIR Immunization: vaccineCode (CVX), occurrenceDateTime, lotNumber, performer."""

    vaccine_code: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,3}$")]
    vaccine_display: _Text
    occurrence_date: date
    lot_number: _Id
    performer_id: _Did
    vaccine_code_system: str = "http://hl7.org/fhir/sid/cvx"


class PractitionerLicense(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """A licence to practise: number, jurisdiction (ISO 3166-2), specialty, valid period."""

    license_number: _Id
    jurisdiction: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]
    specialty: _Text
    practitioner_name: _Text
    license_start: date
    license_end: date

    def __post_init__(self) -> None:
        if self.license_end < self.license_start:
            raise ValueError("licenseEnd is before licenseStart")


@dataclass(frozen=True)
class CredentialType:
    """A credential type: VC ``type``, SD-JWT ``vct``, claim schema and the FHIR fields it maps."""

    name: str
    vct: str
    schema: type[msgspec.Struct]
    issuer_role: str
    fhir_mapping: Mapping[str, str] = field(default_factory=dict)
    contexts: tuple[str, ...] = (CREDENTIALS_V2, HEALTH_V1)

    def validate(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        """The claims normalised to JSON; raises :class:`SchemaError` naming the bad field."""
        try:
            value = msgspec.convert(dict(claims), type=self.schema, strict=False)
        except (msgspec.ValidationError, ValueError) as exc:
            raise SchemaError(f"{self.name}: {exc}") from exc
        data: dict[str, Any] = msgspec.to_builtins(value)
        return {k: v for k, v in data.items() if v is not None}


_TYPES: dict[str, CredentialType] = {}


def register_credential_type(kind: CredentialType) -> None:
    """Register a credential type (built-ins and plugins alike); names and vcts are unique."""
    for existing in _TYPES.values():
        if existing.vct == kind.vct and existing.name != kind.name:
            raise SchemaError(f"vct {kind.vct} already belongs to {existing.name}")
    _TYPES[kind.name] = kind


def credential_type(name_or_vct: str) -> CredentialType:
    """The registered type with this VC type name or SD-JWT vct."""
    for kind in _TYPES.values():
        if name_or_vct in (kind.name, kind.vct):
            return kind
    raise SchemaError(f"unknown credential type {name_or_vct!r}")


def credential_types() -> list[CredentialType]:
    """All registered types."""
    return list(_TYPES.values())


INSURANCE_COVERAGE = CredentialType(
    "InsuranceCoverageCredential",
    "https://careledger.dev/vct/insurance-coverage/v1",
    InsuranceCoverage,
    "payer",
    {
        "memberId": "Coverage.subscriberId",
        "planId": "Coverage.class[plan].value",
        "planName": "Coverage.class[plan].name",
        "payerId": "Coverage.payor",
        "payerName": "Coverage.payor.display",
        "coverageStart": "Coverage.period.start",
        "coverageEnd": "Coverage.period.end",
    },
)
IMMUNIZATION = CredentialType(
    "ImmunizationCredential",
    "https://careledger.dev/vct/immunization/v1",
    Immunization,
    "provider",
    {
        "vaccineCode": "Immunization.vaccineCode.coding.code",
        "vaccineCodeSystem": "Immunization.vaccineCode.coding.system",
        "vaccineDisplay": "Immunization.vaccineCode.coding.display",
        "occurrenceDate": "Immunization.occurrenceDateTime",
        "lotNumber": "Immunization.lotNumber",
        "performerId": "Immunization.performer.actor",
    },
)
PRACTITIONER_LICENSE = CredentialType(
    "PractitionerLicenseCredential",
    "https://careledger.dev/vct/practitioner-license/v1",
    PractitionerLicense,
    "licensing board",
    {
        "licenseNumber": "Practitioner.qualification.identifier",
        "jurisdiction": "Practitioner.qualification.issuer (jurisdiction)",
        "specialty": "Practitioner.qualification.code",
        "practitionerName": "Practitioner.name",
        "licenseStart": "Practitioner.qualification.period.start",
        "licenseEnd": "Practitioner.qualification.period.end",
    },
)
for _builtin in (INSURANCE_COVERAGE, IMMUNIZATION, PRACTITIONER_LICENSE):
    register_credential_type(_builtin)


def build_credential(
    kind: CredentialType,
    issuer: str,
    subject_id: str,
    claims: Mapping[str, Any],
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    status: Sequence[Mapping[str, Any]] = (),
    health_context: str = HEALTH_V1,
) -> dict[str, Any]:
    """An unsigned VC 2.0 of ``kind`` after schema validation.

    ``health_context`` replaces the default health context URL with one the issuing organisation
    controls (node setting ``[credentials] health_context_url``); verifiers must map it to the
    same file (:func:`careledger.credentials.health_context.accept_health_context_url`).
    """
    subject = {"id": subject_id, **kind.validate(claims)}
    credential: dict[str, Any] = {
        "@context": [health_context if c == HEALTH_V1 else c for c in kind.contexts],
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", kind.name],
        "issuer": issuer,
        "validFrom": xsd_datetime(valid_from or datetime.now(UTC)),
        "credentialSubject": subject,
    }
    if valid_until is not None:
        credential["validUntil"] = xsd_datetime(valid_until)
    if status:
        credential["credentialStatus"] = (
            [dict(s) for s in status] if len(status) > 1 else dict(status[0])
        )
    return credential


def issue_credential(
    kind: CredentialType,
    signer: Ed25519Signer,
    verification_method: str,
    subject_id: str,
    claims: Mapping[str, Any],
    suite: Cryptosuite = Cryptosuite.EDDSA_RDFC_2022,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    status: Sequence[Mapping[str, Any]] = (),
    health_context: str = HEALTH_V1,
) -> dict[str, Any]:
    """A signed VC; the issuer is the controller of ``verification_method``."""
    issuer = verification_method.split("#", 1)[0]
    unsigned = build_credential(
        kind, issuer, subject_id, claims, valid_from, valid_until, status, health_context
    )
    return add_proof(unsigned, signer, ProofOptions(verification_method), suite)


def issue_sd_jwt_vc(
    kind: CredentialType,
    signer: Ed25519Signer,
    verification_method: str,
    claims: Mapping[str, Any],
    holder_jwk: Mapping[str, Any] | None,
    lifetime: float = 365 * 86400.0,
    status: Sequence[Mapping[str, Any]] = (),
    disclosable: Iterable[str] | None = None,
    now: float | None = None,
    status_list: Mapping[str, Any] | None = None,
) -> str:
    """An SD-JWT VC of ``kind``; every claim is disclosable unless ``disclosable`` narrows it.

    ``status_list`` — the ``status_list`` reference ``{"idx", "uri"}`` of an IETF Token Status
    List (what other verifiers read; see :mod:`careledger.credentials.status.token_list`) — goes
    under ``status.status_list``. ``status`` entries (BitstringStatusListEntry, CareLedger's
    earlier convention) go under ``status.bitstring_status_list``. ``holder_jwk`` None issues a
    bearer credential (no ``cnf``).
    """
    validated = kind.validate(claims)
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iss": verification_method.split("#", 1)[0],
        "vct": kind.vct,
        "iat": issued,
        "exp": issued + int(lifetime),
        **validated,
    }
    status_claim: dict[str, Any] = {}
    if status_list is not None:
        reference = status_list.get("status_list", status_list)  # a status_reference() too
        status_claim["status_list"] = dict(reference)
    if status:
        status_claim["bitstring_status_list"] = [dict(s) for s in status]
    if status_claim:
        payload["status"] = status_claim
    reveal = list(validated) if disclosable is None else list(disclosable)
    return sd_jwt.issue(payload, reveal, signer, verification_method, holder_jwk)
