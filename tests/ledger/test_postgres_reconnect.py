"""The PostgreSQL state store survives a lost connection: it reconnects and goes on; if the
server came back behind what the store acknowledged, it refuses every call (the peer stops and
replays from its block file on restart) instead of committing on a stale base."""

from __future__ import annotations

import uuid

import pytest

from careledger.errors import StorageError
from careledger.ledger.state.base import BlockUpdate, StateWrite


def _kill_backend(dsn: str, pid: int) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_lost_connection_is_reconnected_and_a_store_left_behind_stops(
    postgres_dsn: str,
) -> None:
    psycopg = pytest.importorskip("psycopg")
    from careledger.ledger.state.postgres import PostgresStateStore

    schema = f"reconnect_{uuid.uuid4().hex[:12]}"
    store = PostgresStateStore(postgres_dsn, schema)
    try:
        write = StateWrite("ns", "k", b"v1", (0, 0), "tx0")
        store.commit(BlockUpdate(number=0, writes=[write]))
        _kill_backend(postgres_dsn, store._db.info.backend_pid)
        found = store.get("ns", "k")  # reconnected
        assert found is not None
        assert found.value == b"v1"
        store.commit(BlockUpdate(number=1))
        _kill_backend(postgres_dsn, store._db.info.backend_pid)
        store.commit(BlockUpdate(number=2))  # the commit itself meets the lost connection
        assert store.height() == 3

        # The server comes back behind this store (a crash lost flushed-late commits).
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(f'UPDATE "{schema}".meta SET height = 2')
        _kill_backend(postgres_dsn, store._db.info.backend_pid)
        for _ in range(2):
            with pytest.raises(StorageError, match="behind"):
                store.get("ns", "k")
        with pytest.raises(StorageError, match="behind"):
            store.commit(BlockUpdate(number=3))
    finally:
        store.close()
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
