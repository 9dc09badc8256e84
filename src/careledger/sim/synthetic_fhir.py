"""Seeded synthetic FHIR data: realistic-shaped patients with no real PHI.

``generate(patients, seed)`` makes, per patient: Patient, Coverage, AllergyIntolerance and a few
Encounters at different providers, each with vital-sign and lab Observations, a
DiagnosticReport, Conditions, a Procedure, MedicationRequests, Immunizations, a
DocumentReference, a Claim and an ExplanationOfBenefit. Ids are deterministic, references are
``Type/id``. ``split_by_provider`` hands each provider what it would hold (by
``Encounter.serviceProvider``; payers hold Coverage and ExplanationOfBenefit).

Names and identifiers are drawn from small made-up lists; nothing is derived from real people.
Not PyPI's Synthea ports: both pull numpy/pandas/scipy and have network code paths; this stays
small, offline and deterministic (see docs/fhir.md).
"""

from __future__ import annotations

import base64
import json
import random
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from careledger.fhir.resources import JSON

PROVIDERS = ("org-hospital", "org-clinic", "org-lab")
PAYER = "org-payer"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
MRN = "urn:careledger:synthetic:mrn"

_GIVEN = ("Ada", "Bo", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Juno", "Kai", "Lea")
_FAMILY = ("Quill", "Marsh", "Fenwick", "Oduya", "Lindqvist", "Petrov", "Tanaka", "Alvarez")
_VITALS = (  # code, display, unit, low, high
    ("8867-4", "Heart rate", "/min", 55, 100),
    ("29463-7", "Body weight", "kg", 50, 110),
    ("8302-2", "Body height", "cm", 150, 195),
    ("8310-5", "Body temperature", "Cel", 36, 38),
)
_LABS = (
    ("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 70, 180),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4, 9),
)
_CONDITIONS = (
    ("44054006", "Diabetes mellitus type 2"),
    ("38341003", "Hypertensive disorder"),
    ("195662009", "Acute viral pharyngitis"),
    ("10509002", "Acute bronchitis"),
)
_MEDS = (
    ("860975", "metformin hydrochloride 500 MG Oral Tablet"),
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("308182", "amoxicillin 250 MG Oral Capsule"),
)
_VACCINES = (
    ("140", "Influenza, seasonal, injectable, preservative free"),
    ("208", "SARS-COV-2 (COVID-19) vaccine, mRNA, 30 mcg/0.3mL dose"),
)
_PROCEDURES = (("430193006", "Medication reconciliation"), ("710824005", "Assessment of health"))


def _cc(system: str, code: str, display: str) -> JSON:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.out: list[JSON] = []
        self.counter = 0

    def id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter:06d}"

    def add(self, resource: JSON) -> str:
        self.out.append(resource)
        return f"{resource['resourceType']}/{resource['id']}"

    def patient(self, number: int) -> None:
        rng = self.rng
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 60))
        pid = self.id("pat")
        given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
        patient = self.add(
            {
                "resourceType": "Patient",
                "id": pid,
                "identifier": [{"system": MRN, "value": f"SYN{number:07d}"}],
                "name": [{"use": "official", "family": family, "given": [given]}],
                "gender": rng.choice(("female", "male")),
                "birthDate": born.isoformat(),
                "address": [{"city": "Sampleton", "state": "ZZ", "country": "XX"}],
            }
        )
        coverage = self.add(
            {
                "resourceType": "Coverage",
                "id": self.id("cov"),
                "status": "active",
                "beneficiary": {"reference": patient},
                "payor": [{"reference": f"Organization/{PAYER}"}],
                "period": {"start": "2020-01-01"},
            }
        )
        self.add(
            {
                "resourceType": "AllergyIntolerance",
                "id": self.id("alg"),
                "patient": {"reference": patient},
                "clinicalStatus": _cc(
                    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "active",
                    "Active",
                ),
                "code": _cc(SNOMED, "91936005", "Allergy to penicillin"),
                "recordedDate": (
                    f"{rng.randrange(2018, 2020)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}"
                ),
            }
        )
        day = date(2020, 1, 1) + timedelta(days=rng.randrange(0, 300))
        for _ in range(rng.randrange(2, 5)):
            day += timedelta(days=rng.randrange(20, 300))
            self.encounter(patient, coverage, day, rng.choice(PROVIDERS))

    def encounter(self, patient: str, coverage: str, day: date, provider: str) -> None:
        rng = self.rng
        start = f"{day.isoformat()}T{rng.randrange(8, 17):02d}:{rng.choice(('00', '30'))}:00Z"
        enc = self.add(
            {
                "resourceType": "Encounter",
                "id": self.id("enc"),
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                    "display": "ambulatory",
                },
                "type": [_cc(SNOMED, "185349003", "Encounter for check up")],
                "subject": {"reference": patient},
                "period": {"start": start, "end": start[:11] + "18:00:00Z"},
                "serviceProvider": {"reference": f"Organization/{provider}"},
            }
        )
        ctx = {"subject": {"reference": patient}, "encounter": {"reference": enc}}
        vitals = _cc(
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "vital-signs",
            "Vital signs",
        )
        for code, display, unit, low, high in _VITALS:
            self.observation(ctx, start, vitals, code, display, unit, low, high)
        lab = _cc(
            "http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory"
        )
        results = [self.observation(ctx, start, lab, *item) for item in _LABS]
        self.add(
            {
                "resourceType": "DiagnosticReport",
                "id": self.id("rep"),
                "status": "final",
                "code": _cc(LOINC, "51990-0", "Basic metabolic panel"),
                **ctx,
                "effectiveDateTime": start,
                "issued": start[:-1] + ".000Z",
                "result": [{"reference": r} for r in results],
            }
        )
        code, display = rng.choice(_CONDITIONS)
        self.add(
            {
                "resourceType": "Condition",
                "id": self.id("con"),
                **ctx,
                "clinicalStatus": _cc(
                    "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
                ),
                "code": _cc(SNOMED, code, display),
                "onsetDateTime": start,
                "recordedDate": start,
            }
        )
        code, display = rng.choice(_PROCEDURES)
        self.add(
            {
                "resourceType": "Procedure",
                "id": self.id("pro"),
                "status": "completed",
                **ctx,
                "code": _cc(SNOMED, code, display),
                "performedDateTime": start,
            }
        )
        code, display = rng.choice(_MEDS)
        self.add(
            {
                "resourceType": "MedicationRequest",
                "id": self.id("med"),
                "status": "active",
                "intent": "order",
                **ctx,
                "authoredOn": start,
                "medicationCodeableConcept": _cc(RXNORM, code, display),
            }
        )
        code, display = rng.choice(_VACCINES)
        self.add(
            {
                "resourceType": "Immunization",
                "id": self.id("imm"),
                "status": "completed",
                "vaccineCode": _cc(CVX, code, display),
                "patient": {"reference": patient},
                "encounter": {"reference": enc},
                "occurrenceDateTime": start,
            }
        )
        note = f"Synthetic visit note {enc}: routine check up, no concerns.".encode()
        self.add(
            {
                "resourceType": "DocumentReference",
                "id": self.id("doc"),
                "status": "current",
                "type": _cc(LOINC, "34117-2", "History and physical note"),
                "subject": {"reference": patient},
                "date": start,
                "context": {"encounter": [{"reference": enc}]},
                "content": [
                    {
                        "attachment": {
                            "contentType": "text/plain",
                            "data": base64.b64encode(note).decode(),
                        }
                    }
                ],
            }
        )
        self.claim(patient, coverage, enc, start, provider)

    def observation(
        self,
        ctx: JSON,
        when: str,
        category: JSON,
        code: str,
        display: str,
        unit: str,
        low: float,
        high: float,
    ) -> str:
        value = round(self.rng.uniform(low, high), 1)
        return self.add(
            {
                "resourceType": "Observation",
                "id": self.id("obs"),
                "status": "final",
                "category": [category],
                "code": _cc(LOINC, code, display),
                **ctx,
                "effectiveDateTime": when,
                "valueQuantity": {
                    "value": value,
                    "unit": unit,
                    "system": "http://unitsofmeasure.org",
                    "code": unit,
                },
            }
        )

    def claim(self, patient: str, coverage: str, enc: str, when: str, provider: str) -> None:
        amount = {"value": round(self.rng.uniform(80, 400), 2), "currency": "USD"}
        common: JSON = {
            "status": "active",
            "use": "claim",
            "patient": {"reference": patient},
            "created": when,
            "provider": {"reference": f"Organization/{provider}"},
            "type": _cc(
                "http://terminology.hl7.org/CodeSystem/claim-type", "professional", "Professional"
            ),
        }
        claim = self.add(
            {
                "resourceType": "Claim",
                "id": self.id("clm"),
                **common,
                "priority": _cc(
                    "http://terminology.hl7.org/CodeSystem/processpriority", "normal", "Normal"
                ),
                "insurer": {"reference": f"Organization/{PAYER}"},
                "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": coverage}}],
                "item": [
                    {
                        "sequence": 1,
                        "encounter": [{"reference": enc}],
                        "productOrService": _cc(SNOMED, "185349003", "Encounter for check up"),
                        "net": amount,
                    }
                ],
                "total": amount,
            }
        )
        self.add(
            {
                "resourceType": "ExplanationOfBenefit",
                "id": self.id("eob"),
                **common,
                "insurer": {"reference": f"Organization/{PAYER}"},
                "claim": {"reference": claim},
                "outcome": "complete",
                "insurance": [{"focal": True, "coverage": {"reference": coverage}}],
                "total": [
                    {
                        "category": _cc(
                            "http://terminology.hl7.org/CodeSystem/adjudication",
                            "submitted",
                            "Submitted Amount",
                        ),
                        "amount": amount,
                    }
                ],
            }
        )


def generate(patients: int, seed: int = 1) -> list[JSON]:
    """``patients`` synthetic patients' resources (about 40 each), deterministic in ``seed``."""
    gen = _Generator(seed)
    for number in range(patients):
        gen.patient(number)
    return gen.out


def split_by_provider(resources: list[JSON]) -> dict[str, list[JSON]]:
    """What each organisation holds: a provider holds what its encounters produced and a copy
    of the patient; the payer holds Coverage and ExplanationOfBenefit; AllergyIntolerance stays
    with the patient's first provider."""
    holder_of_encounter: dict[str, str] = {}
    for r in resources:
        if r["resourceType"] == "Encounter":
            holder_of_encounter[f"Encounter/{r['id']}"] = r["serviceProvider"]["reference"].split(
                "/"
            )[1]
    held: dict[str, list[JSON]] = defaultdict(list)
    providers_of: dict[str, list[str]] = defaultdict(list)
    pending: list[JSON] = []
    for r in resources:
        rtype = r["resourceType"]
        if rtype in ("Coverage", "ExplanationOfBenefit"):
            held[PAYER].append(r)
            continue
        holder = _holder(r, holder_of_encounter)
        if holder is None:
            pending.append(r)
            continue
        patient = _patient_of(r)
        if patient and holder not in providers_of[patient]:
            providers_of[patient].append(holder)
        held[holder].append(r)
    for r in pending:
        if r["resourceType"] == "Patient":
            for holder in providers_of[f"Patient/{r['id']}"] or [PROVIDERS[0]]:
                held[holder].insert(0, r)
        else:
            patient = _patient_of(r) or ""
            held[(providers_of.get(patient) or [PROVIDERS[0]])[0]].append(r)
    return dict(held)


def _holder(resource: JSON, holder_of_encounter: dict[str, str]) -> str | None:
    if resource["resourceType"] == "Encounter":
        return holder_of_encounter[f"Encounter/{resource['id']}"]
    refs: list[Any] = [resource.get("encounter")]
    refs += resource.get("context", {}).get("encounter", [])
    refs += [e for item in resource.get("item", []) for e in item.get("encounter", [])]
    for ref in refs:
        if isinstance(ref, dict) and ref.get("reference") in holder_of_encounter:
            return holder_of_encounter[ref["reference"]]
    return None


def _patient_of(resource: JSON) -> str | None:
    for key in ("subject", "patient", "beneficiary"):
        ref = resource.get(key)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            return str(ref["reference"])
    return None


def transaction_bundle(resources: list[JSON]) -> JSON:
    """A transaction Bundle that PUTs ``resources`` under their own ids."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }


SAMPLES_DIR = Path(__file__).parent / "samples"
SAMPLE_PATIENTS = 3
SAMPLE_SEED = 2024


def sample_bundles() -> dict[str, JSON]:
    """The committed fixtures: ``generate(3, seed=2024)`` split by holder, one transaction
    Bundle per organisation (``samples/<org>.json``)."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(SAMPLES_DIR.glob("*.json"))}


def write_samples() -> None:
    """Regenerate the committed fixtures (run after changing the generator)."""
    SAMPLES_DIR.mkdir(exist_ok=True)
    for org, resources in split_by_provider(generate(SAMPLE_PATIENTS, SAMPLE_SEED)).items():
        text = json.dumps(transaction_bundle(resources), indent=1, sort_keys=True)
        (SAMPLES_DIR / f"{org}.json").write_text(text + "\n")
