"""Conformance suite for the world-state stores: memory, SQLite and PostgreSQL behave the same.

Every ``store`` test runs once per implementation; the cross-store tests apply one sequence of
blocks to all of them and compare. The PostgreSQL cases use a throwaway server
(:mod:`careledger.netctl.pgserver`) started once per session, one schema per test; they skip when
no server binaries are installed, unless ``CARELEDGER_TEST_PG_REQUIRED=1`` (CI) makes that a
failure.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careledger.errors import InvalidInput, StorageError
from careledger.ledger.state.base import (
    EMPTY_ROOT,
    BlockUpdate,
    HistoryEntry,
    StateStore,
    StateWrite,
    TxRecord,
    VersionedValue,
)
from careledger.ledger.state.memory import MemoryStateStore
from careledger.ledger.state.sqlite import SQLiteStateStore

KINDS = ["memory", "sqlite", "postgres"]

# Code-point order, which is Python's str order: not locale order, not UTF-16 order.
ODD_KEYS = [
    *" \x01AZaz~\x7féÿĀ€\uffef😀\U0010ffff",
    *["", "a b", "ab", "pat", "pat/1", "pat/10", "pat/2", "pat0", "pas", "pau"],
]


# --- servers and stores ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_dsn_or_none(request: pytest.FixtureRequest) -> str | None:
    """For tests comparing stores: include PostgreSQL when there is a server."""
    try:
        dsn: str = request.getfixturevalue("postgres_dsn")
    except pytest.skip.Exception:
        return None
    return dsn


@contextmanager
def postgres_schema(dsn: str) -> Iterator[Callable[[], StateStore]]:
    """Open stores on a fresh schema; drop it afterwards (the DSN may be a shared server)."""
    import psycopg

    from careledger.ledger.state.postgres import PostgresStateStore

    schema = f"test_{uuid.uuid4().hex[:16]}"
    try:
        yield lambda: PostgresStateStore(dsn, schema=schema)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def opener(kind: str, directory: Path, dsn: str | None) -> Iterator[Callable[[], StateStore]]:
    """A function opening the same store again each call; every store opened is closed after."""
    opened: list[StateStore] = []

    def track(store: StateStore) -> StateStore:
        opened.append(store)
        return store

    with ExitStack() as stack:
        if kind == "memory":
            open_store: Callable[[], StateStore] = MemoryStateStore
        elif kind == "sqlite":
            open_store = lambda: SQLiteStateStore(directory / "s.db")  # noqa: E731
        else:
            assert dsn is not None
            open_store = stack.enter_context(postgres_schema(dsn))
        stack.callback(_close_all, opened)  # before the schema is dropped
        yield lambda: track(open_store())


def _close_all(stores: list[StateStore]) -> None:
    for s in stores:
        s.close()


@pytest.fixture(params=KINDS)
def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], StateStore]]:
    dsn = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else None
    with opener(request.param, tmp_path, dsn) as open_store:
        yield open_store


@pytest.fixture
def store(reopen: Callable[[], StateStore]) -> StateStore:
    return reopen()


@contextmanager
def every_store(dsn: str | None) -> Iterator[dict[str, StateStore]]:
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        kinds = KINDS if dsn is not None else KINDS[:2]
        yield {k: stack.enter_context(opener(k, Path(tmp), dsn))() for k in kinds}


# --- building blocks ------------------------------------------------------------------------


def put(
    key: str, value: bytes, version: tuple[int, int], ns: str = "ns", tx: str = ""
) -> StateWrite:
    return StateWrite(ns, key, value, version, tx or f"tx{version[0]}.{version[1]}")


def delete(key: str, version: tuple[int, int], ns: str = "ns", tx: str = "") -> StateWrite:
    return StateWrite(ns, key, None, version, tx or f"tx{version[0]}.{version[1]}")


def commit(store: StateStore, *writes: StateWrite, txs: tuple[TxRecord, ...] = ()) -> None:
    store.commit(BlockUpdate(store.height(), list(writes), list(txs)))


def snapshot(
    store: StateStore, keys: list[tuple[str, str]], tx_ids: list[str]
) -> tuple[object, ...]:
    """Everything a reader can observe about ``keys`` and ``tx_ids``."""
    namespaces = sorted({ns for ns, _ in keys})
    return (
        store.height(),
        store.state_root(),
        [store.get(ns, k) for ns, k in keys],
        [store.history(ns, k) for ns, k in keys],
        [store.range(ns, "", "") for ns in namespaces],
        [store.tx(t) for t in tx_ids],
    )


# --- one store at a time --------------------------------------------------------------------


def test_new_store_is_empty(store: StateStore) -> None:
    assert (store.height(), store.state_root()) == (0, EMPTY_ROOT)
    assert store.get("ns", "k") is None
    assert store.range("ns", "", "") == []
    assert store.history("ns", "k") == []
    assert store.tx("tx") is None


def test_put_overwrite_and_versions(store: StateStore) -> None:
    commit(store, put("k", b"v1", (0, 0)), put("k", b"other ns", (0, 0), ns="ns2"))
    commit(store, put("k", b"v2", (1, 3)))
    assert store.get("ns", "k") == VersionedValue(b"v2", (1, 3))
    assert store.get("ns2", "k") == VersionedValue(b"other ns", (0, 0))
    assert store.get("ns3", "k") is None
    commit(store, put("empty", b"", (2, 0)))
    assert store.get("ns", "empty") == VersionedValue(b"", (2, 0))


def test_delete(store: StateStore) -> None:
    commit(store, put("a", b"1", (0, 0)), put("b", b"2", (0, 0)), put("a", b"x", (0, 0), ns="o"))
    commit(store, delete("a", (1, 0)), delete("never-written", (1, 0)))
    assert store.get("ns", "a") is None
    assert store.get("o", "a") == VersionedValue(b"x", (0, 0))
    assert store.range("ns", "", "") == [("b", VersionedValue(b"2", (0, 0)))]
    assert store.get("ns", "never-written") is None
    assert store.height() == 2
    commit(store, put("a", b"back", (2, 0)))
    assert store.get("ns", "a") == VersionedValue(b"back", (2, 0))


def test_range_bounds_and_limit(store: StateStore) -> None:
    commit(store, *(put(k, k.encode(), (0, i)) for i, k in enumerate(["a", "b", "ba", "bb", "c"])))

    def keys(start: str, end: str, limit: int | None = None) -> list[str]:
        return [k for k, _ in store.range("ns", start, end, limit)]

    assert keys("b", "c") == ["b", "ba", "bb"]
    assert keys("b", "bb") == ["b", "ba"]
    assert keys("ba", "") == ["ba", "bb", "c"]
    assert keys("", "") == ["a", "b", "ba", "bb", "c"]
    assert keys("", "b") == ["a"]
    assert keys("0", "zzz") == ["a", "b", "ba", "bb", "c"]
    assert keys("b", "", limit=2) == ["b", "ba"]
    assert keys("b", "c", limit=10) == ["b", "ba", "bb"]
    assert keys("a", "", limit=0) == []
    assert keys("c", "a") == []
    assert keys("d", "") == []
    assert store.range("ns", "bb", "") == [
        ("bb", VersionedValue(b"bb", (0, 3))),
        ("c", VersionedValue(b"c", (0, 4))),
    ]
    assert store.range("other", "", "") == []


def test_range_orders_keys_by_code_point(store: StateStore) -> None:
    commit(store, *(put(k, k.encode(), (0, i)) for i, k in enumerate(reversed(ODD_KEYS))))
    assert [k for k, _ in store.range("ns", "", "")] == sorted(ODD_KEYS)
    assert [k for k, _ in store.range("ns", "pat/", "pat0")] == ["pat/1", "pat/10", "pat/2"]
    assert [k for k, _ in store.range("ns", "é", "😀")] == ["é", "ÿ", "Ā", "€", "\uffef"]
    assert [k for k, _ in store.range("ns", "€", "")] == ["€", "\uffef", "😀", "\U0010ffff"]
    assert [v.value for _, v in store.range("ns", "😀", "")] == [
        "😀".encode(),
        "\U0010ffff".encode(),
    ]


def test_history_is_oldest_first_and_records_deletes(store: StateStore) -> None:
    commit(store, put("k", b"v1", (0, 0), tx="a"))
    commit(store, put("other", b"o", (1, 0), tx="b"), put("k", b"v2", (1, 2), tx="c"))
    commit(store, delete("k", (2, 1), tx="d"))
    commit(store, put("k", b"v3", (3, 0), tx="e"))
    history = store.history("ns", "k")
    assert history == [
        HistoryEntry((0, 0), b"v1", "a"),
        HistoryEntry((1, 2), b"v2", "c"),
        HistoryEntry((2, 1), None, "d"),
        HistoryEntry((3, 0), b"v3", "e"),
    ]
    assert [h.deleted for h in history] == [False, False, True, False]
    assert store.history("ns", "other") == [HistoryEntry((1, 0), b"o", "b")]
    assert store.history("ns2", "k") == []


def test_tx_index_keeps_first_occurrence(store: StateStore) -> None:
    first, dup_in_block = TxRecord("t1", 0, 0, 0), TxRecord("t1", 0, 2, 11)
    commit(store, txs=(first, TxRecord("t2", 0, 1, 0), dup_in_block))
    commit(store, txs=(TxRecord("t2", 1, 0, 11), TxRecord("t3", 1, 1, 4)))
    assert store.tx("t1") == first
    assert store.tx("t2") == TxRecord("t2", 0, 1, 0)
    assert store.tx("t3") == TxRecord("t3", 1, 1, 4)
    assert store.tx("t4") is None


def test_empty_block_advances_height_and_root(store: StateStore) -> None:
    store.commit(BlockUpdate(0))
    assert store.height() == 1
    assert store.state_root() == BlockUpdate(0).next_root(EMPTY_ROOT)


@pytest.mark.parametrize("number", [0, 2, -1])
def test_wrong_block_number_is_rejected_and_nothing_applied(store: StateStore, number: int) -> None:
    commit(store, put("k", b"v", (0, 0)), txs=(TxRecord("t", 0, 0, 0),))
    before = snapshot(store, [("ns", "k"), ("ns", "new")], ["t", "t-new"])
    bad = BlockUpdate(
        number,
        [put("k", b"bad", (number, 0)), put("new", b"n", (number, 0))],
        [TxRecord("t-new", number, 0, 0)],
    )
    with pytest.raises(StorageError, match="block"):
        store.commit(bad)
    assert snapshot(store, [("ns", "k"), ("ns", "new")], ["t", "t-new"]) == before
    commit(store, put("new", b"n", (1, 0)))
    assert store.height() == 2


@pytest.mark.parametrize(
    ("writes", "expected"),
    [
        ([delete("k", (0, 0)), put("k", b"v", (0, 1))], VersionedValue(b"v", (0, 1))),
        ([put("k", b"v", (0, 0)), delete("k", (0, 1))], None),
        ([put("k", b"v1", (0, 0)), put("k", b"v2", (0, 1))], VersionedValue(b"v2", (0, 1))),
    ],
    ids=["delete-then-put", "put-then-delete", "put-then-put"],
)
def test_later_write_in_a_block_wins(
    request: pytest.FixtureRequest,
    store: StateStore,
    writes: list[StateWrite],
    expected: VersionedValue | None,
) -> None:
    # Two valid transactions in one block may both write a key blindly (no read, no conflict).
    store.commit(BlockUpdate(0, writes))
    assert store.get("ns", "k") == expected
    assert [h.version for h in store.history("ns", "k")] == [(0, 0), (0, 1)]


@pytest.mark.parametrize("reopen", ["sqlite", "postgres"], indirect=True)
def test_reopen_keeps_everything(reopen: Callable[[], StateStore]) -> None:
    store = reopen()
    commit(store, put("a", b"1", (0, 0)), put("é", b"2", (0, 1)), txs=(TxRecord("t0", 0, 0, 0),))
    commit(store, delete("a", (1, 0)), put("b", b"3", (1, 0)), txs=(TxRecord("t1", 1, 0, 0),))
    keys = [("ns", "a"), ("ns", "b"), ("ns", "é")]
    before, root = snapshot(store, keys, ["t0", "t1"]), store.state_root()
    store.close()

    again = reopen()
    assert snapshot(again, keys, ["t0", "t1"]) == before
    with pytest.raises(StorageError):
        again.commit(BlockUpdate(1))
    commit(again, put("c", b"4", (2, 0)))
    assert again.height() == 3
    assert again.state_root() == BlockUpdate(2, [put("c", b"4", (2, 0))]).next_root(root)


# --- PostgreSQL only ------------------------------------------------------------------------


def test_postgres_rejects_nul_and_applies_nothing(postgres_dsn: str) -> None:
    with opener("postgres", Path(), postgres_dsn) as open_store:
        store = open_store()
        with pytest.raises(InvalidInput, match="U\\+0000"):
            commit(store, put("fine", b"1", (0, 0)), put("a\0b", b"2", (0, 1)))
        with pytest.raises(InvalidInput, match="U\\+0000"):
            commit(store, put("fine", b"1", (0, 0)), txs=(TxRecord("t\0", 0, 0, 0),))
        assert (store.height(), store.get("ns", "fine")) == (0, None)
        assert store.get("ns", "a\0b") is None
        with pytest.raises(InvalidInput):
            store.range("ns", "a\0", "")


def test_postgres_fault_mid_commit_applies_nothing(postgres_dsn: str) -> None:
    with opener("postgres", Path(), postgres_dsn) as open_store:
        store = open_store()
        commit(store, put("k", b"v", (0, 0)))
        keys, before = [("ns", "k"), ("ns", "new")], snapshot(store, [("ns", "k")], ["t"])
        # The writes are already in the transaction when the tx index row overflows bigint.
        overflow = BlockUpdate(1, [put("new", b"n", (1, 0))], [TxRecord("t", 1, 2**63, 0)])
        with pytest.raises(StorageError, match="block 1"):
            store.commit(overflow)
        assert snapshot(store, [("ns", "k")], ["t"]) == before
        assert store.get("ns", "new") is None
        commit(store, put("new", b"n", (1, 0)), txs=(TxRecord("t", 1, 0, 0),))
        store.close()
        assert snapshot(open_store(), keys, ["t"])[:3] == (
            2,
            store.state_root(),
            [VersionedValue(b"v", (0, 0)), VersionedValue(b"n", (1, 0))],
        )


def test_postgres_schemas_are_separate_and_one_writer_wins(postgres_dsn: str) -> None:
    with (
        opener("postgres", Path(), postgres_dsn) as peer0,
        opener("postgres", Path(), postgres_dsn) as peer1,
    ):
        a, b, a_twin = peer0(), peer1(), peer0()
        commit(a, put("k", b"a", (0, 0)))
        commit(b, put("k", b"b", (0, 0)), put("k2", b"b", (0, 0)))
        assert a.range("ns", "", "") == [("k", VersionedValue(b"a", (0, 0)))]
        # a_twin opened at height 0; its block 0 must not be applied on top of a's.
        with pytest.raises(StorageError, match="another writer"):
            commit(a_twin, put("k", b"twin", (0, 0)))
        assert a.get("ns", "k") == VersionedValue(b"a", (0, 0))


# --- all stores agree -----------------------------------------------------------------------


def test_same_blocks_same_state_everywhere(postgres_dsn_or_none: str | None) -> None:
    blocks = [
        BlockUpdate(
            0,
            [put(k, k.encode(), (0, i)) for i, k in enumerate(ODD_KEYS)],
            [TxRecord(f"t{i}", 0, i, 0) for i in range(3)],
        ),
        BlockUpdate(
            1,
            [delete("pat", (1, 0)), put("ab", b"new", (1, 1)), put("x", b"", (1, 1), ns="n2")],
            [TxRecord("t0", 1, 0, 11), TxRecord("t9", 1, 1, 0)],
        ),
        BlockUpdate(2),
    ]
    root = EMPTY_ROOT
    for b in blocks:
        root = b.next_root(root)
    keys = [("ns", k) for k in ODD_KEYS] + [("n2", "x")]
    with every_store(postgres_dsn_or_none) as stores:
        for s in stores.values():
            for b in blocks:
                s.commit(b)
        seen = {kind: snapshot(s, keys, ["t0", "t9", "t8"]) for kind, s in stores.items()}
        assert all(s.state_root() == root and s.height() == 3 for s in stores.values())
    assert all(v == seen["memory"] for v in seen.values()), seen.keys()


_ns = st.sampled_from(["ns", "n2"])
_key = st.text(alphabet="ab/é€😀\x01", max_size=3)
_value = st.none() | st.binary(max_size=6)


@st.composite
def _blocks(draw: st.DrawFn) -> list[BlockUpdate]:
    blocks: list[BlockUpdate] = []
    for number in range(draw(st.integers(1, 6))):
        tx_ids = draw(
            st.lists(st.sampled_from([f"t{i}" for i in range(6)]), min_size=1, max_size=4)
        )
        # One write per key per block here; repeats within a block are covered by
        # test_later_write_in_a_block_wins.
        writes = draw(st.dictionaries(st.tuples(_ns, _key), st.tuples(st.integers(0, 3), _value)))
        ordered = sorted(writes.items(), key=lambda item: item[1][0] % len(tx_ids))
        blocks.append(
            BlockUpdate(
                number,
                [
                    StateWrite(ns, key, value, (number, i % len(tx_ids)), tx_ids[i % len(tx_ids)])
                    for (ns, key), (i, value) in ordered
                ],
                [
                    TxRecord(t, number, i, draw(st.sampled_from([0, 11])))
                    for i, t in enumerate(tx_ids)
                ],
            )
        )
    return blocks


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks=_blocks(), probes=st.lists(st.tuples(_key, _key, st.none() | st.integers(0, 4))))
def test_random_blocks_give_identical_results(
    postgres_dsn_or_none: str | None,
    blocks: list[BlockUpdate],
    probes: list[tuple[str, str, int | None]],
) -> None:
    keys = sorted({(w.namespace, w.key) for b in blocks for w in b.writes} | {("ns", "")})
    tx_ids = [f"t{i}" for i in range(6)]
    with every_store(postgres_dsn_or_none) as stores:
        seen = {}
        for kind, s in stores.items():
            for b in blocks:
                s.commit(b)
            ranges = [s.range(ns, lo, hi, limit) for ns in ("ns", "n2") for lo, hi, limit in probes]
            seen[kind] = (snapshot(s, keys, tx_ids), ranges)
    expected = seen.pop("memory")
    for kind, observed in seen.items():
        assert observed == expected, kind
