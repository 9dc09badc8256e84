"""Crypto-shredding: after erase_patient no version of the patient's data can be read or
decrypted, with the API or from the raw database with every key that remains."""

from __future__ import annotations

from pathlib import Path

import pytest

from careledger.errors import CryptoError
from careledger.fhir.base import RecordingListener
from careledger.fhir.service import FhirService
from careledger.fhir.store.envelope import MasterKey, Sealed, slot_of, unseal
from careledger.fhir.store.sqlite import SQLiteResourceStore
from tests.fhir.conftest import Client, create, observation, patient


def test_erased_patient_reads_410_and_others_are_untouched(
    client: Client, service: FhirService, listener: RecordingListener
) -> None:
    gone = create(client, patient("Quill"))
    kept = create(client, patient("Marsh"))
    obs = create(client, observation(gone["id"]))
    client.put(f"/Observation/{obs['id']}", json={**obs, "status": "amended"})
    other = create(client, observation(kept["id"]))

    assert service.erase_patient(gone["id"]) == 2
    assert listener.erased == [f"Patient/{gone['id']}"]
    for url in (
        f"/Patient/{gone['id']}",
        f"/Observation/{obs['id']}",
        f"/Observation/{obs['id']}/_history/1",
        f"/Observation/{obs['id']}/_history",
    ):
        response = client.get(url)
        assert response.status_code == 410, url
        assert "erased" in response.json()["issue"][0]["diagnostics"]
    assert client.get("/Observation").json()["total"] == 1
    assert client.get("/Patient", params={"family": "quill"}).json()["total"] == 0
    history = client.get("/Observation/_history").json()
    assert {e["resource"]["id"] for e in history["entry"]} == {other["id"]}
    assert client.get(f"/Observation/{other['id']}").status_code == 200
    assert client.get(f"/Patient/{kept['id']}").status_code == 200
    # New data for an erased patient is refused rather than silently re-keyed.
    assert client.post("/Observation", json=observation(gone["id"])).status_code == 410
    assert service.erase_patient(gone["id"]) == 0  # idempotent


def test_raw_rows_cannot_be_decrypted_with_the_remaining_keys(
    client: Client,
    service: FhirService,
    store: SQLiteResourceStore,
    master_key: MasterKey,
    master_raw: bytes,
    tmp_path: Path,
) -> None:
    gone = create(client, patient("Quill"))
    kept = create(client, patient("Marsh"))
    create(client, observation(gone["id"]))
    create(client, observation(kept["id"]))
    db = store.raw_connection()
    wrapped_before = db.execute(
        "SELECT wrapped FROM patient_keys WHERE patient = ?", (f"Patient/{gone['id']}",)
    ).fetchone()[0]

    service.erase_patient(f"Patient/{gone['id']}")

    remaining = {
        patient_ref: master_key.unwrap_patient_key(patient_ref, wrapped)
        for patient_ref, wrapped in db.execute(
            "SELECT patient, wrapped FROM patient_keys WHERE wrapped IS NOT NULL"
        )
    }
    assert f"Patient/{gone['id']}" not in remaining
    rows = db.execute(
        "SELECT rtype, rid, version, wrapped_key, nonce, ciphertext FROM versions"
        " WHERE patient = ?",
        (f"Patient/{gone['id']}",),
    ).fetchall()
    assert len(rows) == 2
    for rtype, rid, version, wrapped, nonce, ciphertext in rows:
        assert b"Quill" not in ciphertext
        for key in [*remaining.values(), master_raw]:
            with pytest.raises(CryptoError):
                unseal(key, Sealed(wrapped, nonce, ciphertext), slot_of(rtype, rid, version))
    # The destroyed wrapped key is gone from the database file and its log, not just unlinked.
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("fhir.sqlite*"))
    assert wrapped_before not in raw
    assert b"Quill" not in raw  # neither content nor the plaintext index keeps the name


def test_wrong_master_key_cannot_open_the_store(tmp_path: Path) -> None:
    store = SQLiteResourceStore(tmp_path / "a.sqlite", MasterKey.generate())
    service = FhirService(store, base_url="http://x")
    pid = service.create("Patient", patient()).version.id
    store.close()
    other = SQLiteResourceStore(tmp_path / "a.sqlite", MasterKey.generate())
    try:
        with pytest.raises(CryptoError):
            other.read("Patient", pid)
    finally:
        other.close()
