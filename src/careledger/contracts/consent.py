"""The ``consent`` contract: a patient's grants and revocations of access, modelled on FHIR Consent.

A consent is signed by the patient with a current key of their DID, resolved from the ``dids``
contract's state (``Stub.read_namespace``, so the read is MVCC-checked: a key rotated in the
same block makes the later transaction invalid rather than accepted on stale keys). Any member
may submit it — typically the app of the provider the patient is with — but only the signature
gives it force. The terms:

* **grantee** — an organisation of the consortium (checked against ``_gov``) or a
  practitioner's DID;
* **purposes** — HL7 v3 PurposeOfUse: ``TREAT``, ``HPAYMT``, ``HOPERAT``, ``HRESCH``, ``ETREAT``;
* **classes** — FHIR resource types, or ``*`` for all;
* **sensitive** — sensitive categories disclosed *only because they are named here*
  (``ETH``/``SUD`` substance use under 42 CFR Part 2, ``PSY``/``MH``/``BH`` mental health,
  ``HIV``…, and confidentiality ``R``/``V``);
* **validity** — ``[start, end)`` in ms since the epoch;
* **nonce** — so the same terms can be granted again after a revocation.

Its id is the SHA-256 of the signed payload, so a replayed grant is refused. Revocation is signed
the same way and takes effect from the block after it commits (holders decide against committed
state). :func:`covers` is the one decision function holders use; :func:`to_fhir` exports a record
as a FHIR R4 ``Consent``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query
from careledger.contracts.dids import NAMESPACE as DIDS_NAMESPACE
from careledger.contracts.dids import DidRecord, _signed_by
from careledger.contracts.phi_guard import (
    Did,
    Grantee,
    HexDigest,
    HexSignature,
    Millis,
    Nonce,
    Purpose,
    ResourceType,
    SensitiveCategory,
    check_schema,
    check_struct,
    require,
)
from careledger.contracts.values import decode_value
from careledger.crypto import encoding
from careledger.errors import ContractError, InvalidInput

NAMESPACE = "consent"
DOMAIN = "careledger/consent/v1"
MAX_CONSENTS_PER_PATIENT = 256
ResourceClass = ResourceType | Literal["*"]

PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
SENSITIVITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


class ConsentTerms(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    grantee: Grantee
    purposes: Annotated[list[Purpose], msgspec.Meta(min_length=1, max_length=5)]
    classes: Annotated[list[ResourceClass], msgspec.Meta(min_length=1, max_length=14)]
    sensitive: Annotated[list[SensitiveCategory], msgspec.Meta(max_length=13)]
    start: Millis
    end: Millis
    nonce: Nonce


class ConsentRecord(msgspec.Struct, frozen=True):
    id: HexDigest
    patient: Did
    terms: ConsentTerms
    grantee_kind: Literal["organization", "practitioner"]
    status: Literal["active", "revoked"]
    signature: HexSignature
    granted_at: Millis
    granted_tx: HexDigest
    revoked_at: Millis | None = None
    revoked_tx: HexDigest | None = None


for _schema in (ConsentTerms, ConsentRecord):
    check_schema(_schema)


def grant_payload(patient: str, terms: ConsentTerms) -> bytes:
    """What the patient signs to grant ``terms``; its SHA-256 is the consent id."""
    return encoding.encode(
        {"domain": DOMAIN, "did": patient, "op": "grant", "terms": msgspec.to_builtins(terms)}
    )


def revoke_payload(patient: str, consent_id: str) -> bytes:
    """What the patient signs to revoke consent ``consent_id``."""
    return encoding.encode({"domain": DOMAIN, "did": patient, "op": "revoke", "id": consent_id})


def consent_id(patient: str, terms: ConsentTerms) -> str:
    return hashlib.sha256(grant_payload(patient, terms)).hexdigest()


def _did_keys(stub: Stub, did: str) -> list[str]:
    raw = stub.read_namespace(DIDS_NAMESPACE, f"did/{did}")
    if raw is None:
        raise ContractError(f"{did} is not anchored in the dids contract")
    record: DidRecord = decode_value(raw, DidRecord)
    if record.deactivated:
        raise ContractError(f"{did} is deactivated")
    return record.keys


class Consents(Contract):
    name = NAMESPACE
    version = "1.0"
    schemas = {"consent": ConsentRecord}

    @invoke
    def grant(
        self, stub: Stub, patient: str, terms: ConsentTerms, signature: bytes
    ) -> dict[str, Any]:
        """Record a consent signed by ``patient``'s DID key; returns its id."""
        require(patient, Did, "patient")
        check_struct(terms)
        if not patient.startswith("did:careledger:"):
            raise InvalidInput("the patient is identified by a did:careledger DID")
        if terms.end <= terms.start:
            raise InvalidInput("a consent's validity ends after it starts")
        if len(set(terms.purposes)) != len(terms.purposes) or len(set(terms.classes)) != len(
            terms.classes
        ):
            raise InvalidInput("duplicate purpose or class")
        kind: Literal["organization", "practitioner"] = "organization"
        if terms.grantee.startswith("did:"):
            kind = "practitioner"
        elif stub.read_namespace("_gov", f"org/{terms.grantee}") is None:
            raise ContractError(f"grantee {terms.grantee} is not an organisation of the consortium")
        payload = grant_payload(patient, terms)
        if not _signed_by(_did_keys(stub, patient), payload, signature):
            raise ContractError(f"the consent is not signed by a current key of {patient}")
        cid = hashlib.sha256(payload).hexdigest()
        key = f"consent/{patient}/{cid}"
        if stub.get(key) is not None:
            raise ContractError("this consent was already granted (replay)")
        existing = stub.range(f"consent/{patient}/", f"consent/{patient}0")
        if len(existing) >= MAX_CONSENTS_PER_PATIENT:
            raise ContractError(f"a patient holds at most {MAX_CONSENTS_PER_PATIENT} consents")
        record = ConsentRecord(
            cid, patient, terms, kind, "active", signature.hex(), stub.timestamp, stub.tx_id
        )
        check_struct(record)
        stub.put(key, record)
        stub.emit("consent.granted", {"patient": patient, "id": cid})
        return {"id": cid}

    @invoke
    def revoke(self, stub: Stub, patient: str, consent: str, signature: bytes) -> dict[str, Any]:
        """Revoke a consent (signed by a current key of the patient's DID)."""
        require(patient, Did, "patient")
        require(consent, HexDigest, "consent")
        key = f"consent/{patient}/{consent}"
        record: ConsentRecord | None = stub.get(key)
        if record is None:
            raise ContractError("no such consent")
        if record.status == "revoked":
            raise ContractError("the consent is already revoked")
        if not _signed_by(_did_keys(stub, patient), revoke_payload(patient, consent), signature):
            raise ContractError(f"the revocation is not signed by a current key of {patient}")
        revoked = msgspec.structs.replace(
            record, status="revoked", revoked_at=stub.timestamp, revoked_tx=stub.tx_id
        )
        stub.put(key, revoked)
        stub.emit("consent.revoked", {"patient": patient, "id": consent})
        return {"id": consent, "status": "revoked"}

    @query
    def consents(self, stub: Stub, patient: str) -> list[dict[str, Any]]:
        """Every consent of ``patient``, active and revoked."""
        require(patient, Did, "patient")
        return [
            msgspec.to_builtins(r)
            for _k, r in stub.range(f"consent/{patient}/", f"consent/{patient}0")
        ]


# --- the decision, shared by every holder -----------------------------------------------------


def covers(
    record: ConsentRecord,
    *,
    requester: str,
    practitioner: str | None,
    purpose: str,
    resource_type: str,
    sensitive: frozenset[str],
    now: int,
) -> bool:
    """Whether ``record`` permits this disclosure at ``now`` (ms)."""
    terms = record.terms
    if record.status != "active" or not terms.start <= now < terms.end:
        return False
    if record.grantee_kind == "organization" and terms.grantee != requester:
        return False
    if record.grantee_kind == "practitioner" and terms.grantee != practitioner:
        return False
    if purpose not in terms.purposes:
        return False
    if "*" not in terms.classes and resource_type not in terms.classes:
        return False
    return sensitive <= set(terms.sensitive)


def decode_records(plain: list[dict[str, Any]]) -> list[ConsentRecord]:
    """Records as returned by the ``consents`` query."""
    return msgspec.convert(plain, list[ConsentRecord])


def _instant(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def to_fhir(record: ConsentRecord, patient_reference: str | None = None) -> Any:
    """The record as a validated FHIR R4 ``Consent`` (``fhir.resources`` R4B model).

    ``patient_reference`` (``Patient/<id>``) is the holder's local patient, if the export is for
    a FHIR server; otherwise the patient is identified by their DID.
    """
    from fhir.resources.R4B.consent import Consent

    terms = record.terms
    patient: dict[str, Any] = (
        {"reference": patient_reference}
        if patient_reference
        else {"identifier": {"system": "urn:ietf:rfc:3986", "value": record.patient}}
    )
    actor_ref: dict[str, Any] = (
        {"identifier": {"system": "urn:careledger:org", "value": terms.grantee}}
        if record.grantee_kind == "organization"
        else {"identifier": {"system": "urn:ietf:rfc:3986", "value": terms.grantee}}
    )
    security = []
    for code in terms.sensitive:
        system = CONFIDENTIALITY_SYSTEM if code in ("R", "V") else SENSITIVITY_SYSTEM
        security.append({"system": system, "code": code})
    provision: dict[str, Any] = {
        "type": "permit",
        "period": {"start": _instant(terms.start), "end": _instant(terms.end)},
        "actor": [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                        }
                    ]
                },
                "reference": actor_ref,
            }
        ],
        "action": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentaction",
                        "code": "access",
                    }
                ]
            }
        ],
        "purpose": [{"system": PURPOSE_SYSTEM, "code": p} for p in terms.purposes],
    }
    if "*" not in terms.classes:
        provision["class"] = [
            {"system": "http://hl7.org/fhir/resource-types", "code": c} for c in terms.classes
        ]
    if security:
        provision["securityLabel"] = security
    data: dict[str, Any] = {
        "resourceType": "Consent",
        "id": record.id,
        "status": "active" if record.status == "active" else "inactive",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": patient,
        "dateTime": _instant(record.granted_at),
        "policy": [{"uri": "https://careledger.dev/policy/consent/v1"}],
        "provision": provision,
    }
    if record.revoked_at is not None:
        data["provision"]["period"]["end"] = _instant(min(terms.end, record.revoked_at))
    return Consent.model_validate(data)
