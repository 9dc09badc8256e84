"""The synthetic generator, the committed fixtures and the ingest benchmark."""

from __future__ import annotations

from careledger.bench.fhir_ingest import run_ingest
from careledger.fhir.resources import validate
from careledger.sim.synthetic_fhir import (
    PAYER,
    SAMPLE_PATIENTS,
    SAMPLE_SEED,
    generate,
    sample_bundles,
    split_by_provider,
    transaction_bundle,
)


def test_generator_is_deterministic_and_valid() -> None:
    first = generate(4, seed=11)
    assert first == generate(4, seed=11)
    assert first != generate(4, seed=12)
    for resource in first:
        validate(resource)
    assert {r["resourceType"] for r in first} >= {
        "Patient",
        "Encounter",
        "Observation",
        "Condition",
        "Procedure",
        "MedicationRequest",
        "Immunization",
        "AllergyIntolerance",
        "DiagnosticReport",
        "DocumentReference",
        "Coverage",
        "Claim",
        "ExplanationOfBenefit",
    }


def test_split_by_provider_follows_the_encounter() -> None:
    held = split_by_provider(generate(6, seed=5))
    for org, resources in held.items():
        encounters = {f"Encounter/{r['id']}" for r in resources if r["resourceType"] == "Encounter"}
        for r in resources:
            if r["resourceType"] == "Encounter":
                assert r["serviceProvider"]["reference"] == f"Organization/{org}"
            if "encounter" in r:
                assert r["encounter"]["reference"] in encounters
            if org != PAYER and r["resourceType"] not in ("Patient", "AllergyIntolerance"):
                assert r["resourceType"] not in ("Coverage", "ExplanationOfBenefit")
    assert {r["resourceType"] for r in held[PAYER]} == {"Coverage", "ExplanationOfBenefit"}


def test_committed_fixtures_are_what_the_generator_makes() -> None:
    expected = split_by_provider(generate(SAMPLE_PATIENTS, SAMPLE_SEED))
    samples = sample_bundles()
    assert samples == {org: transaction_bundle(rs) for org, rs in expected.items()}


def test_run_ingest_reports_rates() -> None:
    result = run_ingest(300, batch=100)
    assert result["resources"] == 300
    assert result["resources_per_second"] > 0
    assert result["validate_only_per_second"] > 0
