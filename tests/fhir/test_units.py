"""Units: date ranges, query parsing, envelope encryption, sensitivity labels."""

from __future__ import annotations

import pytest

from careledger.errors import CryptoError, InvalidInput
from careledger.fhir.query import DateValue, TokenValue, parse_search
from careledger.fhir.resources import sensitivity
from careledger.fhir.searchparams import date_range
from careledger.fhir.store.envelope import MasterKey, new_patient_key, seal, slot_of, unseal


def _us(text: str) -> int:
    return date_range(text)[0]


def test_date_range_follows_precision_and_zones() -> None:
    low, high = date_range("2024")
    assert (low, high) == (_us("2024-01-01"), _us("2025-01-01"))
    assert date_range("2024-12") == (_us("2024-12-01"), _us("2025-01-01"))
    assert date_range("2024-02-29")[1] == _us("2024-03-01")
    assert _us("2024-01-01T01:00:00+01:00") == _us("2024-01-01T00:00:00Z")
    low, high = date_range("2024-01-01T00:00:00.5Z")
    assert high - low == 100_000
    for bad in ("2024-02-30", "24", "2024-1-1", "2024-01-01T25:00:00Z"):
        with pytest.raises(InvalidInput):
            date_range(bad)


def test_parse_search_splits_and_escapes() -> None:
    query = parse_search(
        "Observation", [("code", r"a\,b,c|d"), ("date", "ge2024"), ("_count", "999")]
    )
    assert query.count == 500
    assert query.clauses[0].values == (TokenValue(None, "a,b"), TokenValue("c", "d"))
    value = query.clauses[1].values[0]
    assert isinstance(value, DateValue)
    assert value.prefix == "ge"


def test_envelope_binds_ciphertext_to_its_slot_and_key() -> None:
    key = new_patient_key()
    sealed = seal(key, b"secret", slot_of("Patient", "1", 1))
    assert unseal(key, sealed, slot_of("Patient", "1", 1)) == b"secret"
    with pytest.raises(CryptoError):
        unseal(key, sealed, slot_of("Patient", "2", 1))
    with pytest.raises(CryptoError):
        unseal(new_patient_key(), sealed, slot_of("Patient", "1", 1))
    master = MasterKey.generate()
    wrapped = master.wrap_patient_key("Patient/1", key)
    assert master.unwrap_patient_key("Patient/1", wrapped) == key
    with pytest.raises(CryptoError):
        master.unwrap_patient_key("Patient/2", wrapped)


def test_master_key_from_text_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    raw = bytes(range(32))
    text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    monkeypatch.setenv("CARELEDGER_FHIR_MASTER_KEY", text)
    assert MasterKey.from_env().key_id == MasterKey(raw).key_id
    with pytest.raises(CryptoError):
        MasterKey.from_text("c2hvcnQ")
    monkeypatch.delenv("CARELEDGER_FHIR_MASTER_KEY")
    with pytest.raises(CryptoError):
        MasterKey.from_env()


def test_sensitivity_label_takes_the_highest_confidentiality() -> None:
    system = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    resource = {
        "meta": {
            "security": [
                {"system": system, "code": "L"},
                {"system": system, "code": "V"},
                {"system": "x", "code": "PSY"},
            ]
        }
    }
    label = sensitivity(resource)
    assert (label.confidentiality, label.categories) == ("V", ("PSY",))
    assert sensitivity({}).confidentiality == "N"
