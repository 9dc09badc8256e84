"""The payer's off-chain PAS store keeps Bundles, Patient entries, texts and subscriptions across
a restart (SQLite), like the in-memory one tests use."""

from __future__ import annotations

from pathlib import Path

import pytest

from careledger.payer.pas.store import MemoryPasStore, PasStore, SQLitePasStore, text_hash


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_store_round_trip(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "pas.sqlite"
    store: PasStore = MemoryPasStore() if kind == "memory" else SQLitePasStore(path)
    store.put_bundle("ab" * 32, b'{"resourceType":"Bundle"}')
    store.put_patient("PAABCDEFGHJKLMNPQRABCD", {"fullUrl": "urn:uuid:p"})
    digest = store.put_text("Conservative therapy first.")
    store.put_subscriptions("Org1", ["https://org1.test/hook"])
    if isinstance(store, SQLitePasStore):
        store.close()
        store = SQLitePasStore(path)
    assert store.bundle("ab" * 32) == b'{"resourceType":"Bundle"}'
    assert store.patient("PAABCDEFGHJKLMNPQRABCD") == {"fullUrl": "urn:uuid:p"}
    assert digest == text_hash("Conservative therapy first.")
    assert store.text(digest) == "Conservative therapy first."
    assert store.subscriptions("Org1") == ["https://org1.test/hook"]
    assert store.subscriptions("Org3") == []
    assert store.bundle("cd" * 32) is None
    if isinstance(store, SQLitePasStore):
        store.close()
