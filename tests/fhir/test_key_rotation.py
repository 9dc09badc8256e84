"""Rotating the FHIR master key without downtime: a ring reads with the old key and the new,
writes with the new; the re-wrap runs from another connection while the node writes and reads;
afterwards the new key alone reads everything and the old key alone reads nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from careledger.errors import CryptoError
from careledger.fhir.errors import ResourceGone
from careledger.fhir.service import FhirService
from careledger.fhir.store.envelope import MasterKey
from careledger.fhir.store.keyring import MasterKeyRing, rewrap

BASE = "http://fhir.test"
PATIENTS = 12


def _patient(i: int) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": f"Rotation{chr(97 + i % 26)}"}]}


def _observation(patient_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "valueQuantity": {"value": 70, "unit": "/min"},
    }


def test_rotation_reads_with_either_key_rewraps_online_then_needs_only_the_new(
    open_store: Callable[..., Any],
) -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    before = FhirService(open_store(old), base_url=BASE)
    ids = [before.create("Patient", _patient(i)).version.id for i in range(PATIENTS)]
    for pid in ids:
        before.create("Observation", _observation(pid))
    erased = ids.pop(0)
    before.erase_patient(erased)

    # The node restarted with the ring: old data reads, new patients get the new key.
    ring = MasterKeyRing(new, [old])
    node_store = open_store(ring)
    node = FhirService(node_store, base_url=BASE)
    assert all(node.read("Patient", pid).content for pid in ids)
    fresh = node.create("Patient", _patient(99)).version.id
    assert node_store.stale_patient_keys() == len(ids)

    # The re-wrap runs on its own connection while the node keeps writing and reading.
    tool = open_store(ring)
    stop, problems, written = threading.Event(), [], []

    def serve() -> None:
        i = 0
        while not stop.is_set():
            try:
                pid = ids[i % len(ids)]
                node.read("Patient", pid)
                written.append(node.create("Observation", _observation(pid)).version.id)
                i += 1
            except Exception as exc:  # any failure while rotating is the finding
                problems.append(exc)
                return

    serving = threading.Thread(target=serve)
    serving.start()
    try:
        report = rewrap(tool, batch=1)
    finally:
        stop.set()
        serving.join(30)
    assert problems == []
    assert written, "the node served writes during the re-wrap"
    assert (report.rewrapped, report.batches, report.remaining) == (len(ids), len(ids), 0)
    assert rewrap(tool).rewrapped == 0  # idempotent

    # The new key alone reads everything; the erased patient stays erased; the old key is out.
    after = FhirService(open_store(new), base_url=BASE)
    for pid in [*ids, fresh]:
        assert after.read("Patient", pid).content
    for oid in written[-3:]:
        assert after.read("Observation", oid).content
    with pytest.raises(ResourceGone):
        after.read("Patient", erased)
    with pytest.raises(CryptoError):
        FhirService(open_store(old), base_url=BASE).read("Patient", ids[0])


def test_a_key_outside_the_ring_is_named() -> None:
    ring = MasterKeyRing(MasterKey.generate())
    blob = MasterKey.generate().wrap_patient_key("Patient/x", b"k" * 32)
    with pytest.raises(CryptoError, match="any master key"):
        ring.unwrap_patient_key("Patient/x", blob)
    with pytest.raises(CryptoError, match="below the current key"):
        ring.unwrap_patient_key("Patient/x", blob, key_id="0123456789abcdef")


def test_ring_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import os

    texts = [base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=") for _ in range(3)]
    monkeypatch.setenv("X_FHIR_KEY", texts[0])
    monkeypatch.setenv("X_FHIR_KEY_PREVIOUS", f"{texts[1]}, {texts[2]}")
    ring = MasterKeyRing.from_env("X_FHIR_KEY")
    assert ring.key_id == MasterKey.from_text(texts[0]).key_id
    assert len(ring.key_ids) == 3
