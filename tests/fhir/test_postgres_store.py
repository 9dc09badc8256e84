"""The PostgreSQL resource store beyond the shared suite (which runs every FHIR test on both
stores): what erasure leaves in the database, reopening, schemas, concurrent writers on one
schema, NUL characters. The first test runs on both stores: a regression of the key cache."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from careledger.errors import CryptoError, StorageError
from careledger.fhir.base import Change, ResourceStore
from careledger.fhir.errors import ResourceGone, VersionConflict
from careledger.fhir.query import Clause, SearchQuery, StringValue
from careledger.fhir.searchparams import IndexEntry
from careledger.fhir.service import FhirService
from careledger.fhir.store.envelope import MasterKey, Sealed, slot_of, unseal
from tests.fhir.conftest import observation, patient

T0 = "2024-01-01T00:00:00Z"


def put(rid: str, version: int, previous: int, body: bytes = b"{}", **kw: Any) -> Change:
    return Change("Patient", rid, version, previous, T0, f"Patient/{rid}", body, **kw)


def test_a_key_made_in_a_rolled_back_commit_is_not_reused(
    open_store: Callable[..., ResourceStore],
) -> None:
    """A patient key created in a transaction that then failed must not stay cached: data
    written with it later would have no stored key and be unreadable after a reopen."""
    store = open_store()
    with pytest.raises(VersionConflict):
        store.commit([put("p1", 1, 0, b'{"a":1}'), put("other", 2, 1)])
    assert store.head("Patient", "p1") is None
    store.commit([put("p1", 1, 0, b'{"a":1}')])
    store.close()
    assert open_store().read("Patient", "p1").content == b'{"a":1}'


# --- PostgreSQL only -------------------------------------------------------------------------


@pytest.fixture
def pg_open(
    postgres_dsn: str, pg_schema: str, master_key: MasterKey
) -> Iterator[Callable[..., Any]]:
    """Opens PostgresResourceStores on the test's schema; all are closed after the test."""
    from careledger.fhir.store.postgres import PostgresResourceStore

    opened: list[PostgresResourceStore] = []

    def opener(key: MasterKey = master_key, schema: str = pg_schema) -> PostgresResourceStore:
        opened.append(PostgresResourceStore(postgres_dsn, key, schema=schema))
        return opened[-1]

    yield opener
    for s in opened:
        s.close()


def test_erasure_leaves_nothing_decryptable(
    pg_open: Callable[..., Any], master_key: MasterKey, master_raw: bytes
) -> None:
    store = pg_open()
    service = FhirService(store, base_url="http://x")
    gone = service.create("Patient", patient("Quill")).version.id
    kept = service.create("Patient", patient("Marsh")).version.id
    service.create("Observation", observation(gone))
    service.create("Observation", observation(kept))
    db = store.raw_connection()
    gone_ref = f"Patient/{gone}"
    wrapped_before = db.execute(
        "SELECT wrapped FROM patient_keys WHERE patient = %s", (gone_ref,)
    ).fetchone()[0]

    assert service.erase_patient(gone) == 2

    remaining = {
        ref: master_key.unwrap_patient_key(ref, wrapped)
        for ref, wrapped in db.execute(
            "SELECT patient, wrapped FROM patient_keys WHERE wrapped IS NOT NULL"
        )
    }
    assert gone_ref not in remaining
    assert f"Patient/{kept}" in remaining
    rows = db.execute(
        "SELECT rtype, rid, version, wrapped_key, nonce, ciphertext FROM versions"
        " WHERE patient = %s",
        (gone_ref,),
    ).fetchall()
    assert len(rows) == 2
    for rtype, rid, version, wrapped, nonce, ciphertext in rows:
        assert b"Quill" not in ciphertext
        for key in [*remaining.values(), master_raw]:
            with pytest.raises(CryptoError):
                unseal(key, Sealed(wrapped, nonce, ciphertext), slot_of(rtype, rid, version))
    assert db.execute(
        "SELECT count(*) FROM search_index WHERE rid IN (SELECT rid FROM heads"
        " WHERE patient = %s) OR value LIKE %s",
        (gone_ref, "%quill%"),
    ).fetchone() == (0,)
    # The key table was rewritten: the old row version is not in its file any more.
    db.execute("CHECKPOINT")
    try:
        raw = db.execute(
            "SELECT pg_read_binary_file(pg_relation_filepath('patient_keys'))"
        ).fetchone()[0]
    except Exception as exc:  # not a superuser on a shared server
        pytest.skip(f"cannot read the table file: {exc}")
    assert wrapped_before not in raw


def test_reopen_keeps_data_and_needs_the_master_key(pg_open: Callable[..., Any]) -> None:
    store = pg_open()
    service = FhirService(store, base_url="http://x")
    pid = service.create("Patient", patient("Quill")).version.id
    oid = service.create("Observation", observation(pid)).version.id
    service.update("Observation", oid, {**observation(pid), "id": oid, "status": "amended"})
    store.close()

    again = pg_open()
    service = FhirService(again, base_url="http://x")
    assert again.read("Observation", oid).version == 2
    assert again.read("Observation", oid, 1).content is not None
    assert again.history("Observation", oid, None, 10, 0)[1] == 2
    bundle = service.search("Patient", [("family", "qui")])
    assert bundle["total"] == 1
    assert [e["fullUrl"].rsplit("/", 1)[1] for e in bundle["entry"]] == [pid]

    with pytest.raises(CryptoError):
        pg_open(MasterKey.generate()).read("Patient", pid)


def test_schemas_are_separate_stores(
    pg_open: Callable[..., Any], pg_schema: str, postgres_dsn: str
) -> None:
    import psycopg

    first = pg_open()
    second_schema = pg_schema + "_b"
    second = pg_open(schema=second_schema)
    try:
        first.commit([put("p1", 1, 0)])
        assert second.head("Patient", "p1") is None
        second.commit([put("p1", 1, 0, b'{"b":1}')])
        assert first.read("Patient", "p1").content == b"{}"
    finally:
        second.close()
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{second_schema}" CASCADE')


def test_bad_schema_names_and_servers_are_refused(postgres_dsn: str) -> None:
    from careledger.fhir.store.postgres import PostgresResourceStore

    for bad in ("", "x" * 64, "a\0b"):
        with pytest.raises(Exception, match="schema name"):
            PostgresResourceStore(postgres_dsn, MasterKey.generate(), schema=bad)
    with pytest.raises(StorageError):
        PostgresResourceStore("postgresql://nobody@127.0.0.1:1/x", MasterKey.generate())


def test_a_closed_connection_is_a_storage_error(pg_open: Callable[..., Any]) -> None:
    store = pg_open()
    store.raw_connection().close()
    with pytest.raises(StorageError):
        store.head("Patient", "p1")
    with pytest.raises(StorageError):
        store.commit([put("p1", 1, 0)])


def test_two_stores_on_one_schema_check_versions(pg_open: Callable[..., Any]) -> None:
    a, b = pg_open(), pg_open()
    a.commit([put("p1", 1, 0)])
    assert b.read("Patient", "p1").version == 1
    b.commit([put("p1", 2, 1, b'{"by":"b"}')])
    with pytest.raises(VersionConflict):
        a.commit([put("p1", 2, 1, b'{"by":"a"}')])
    with pytest.raises(VersionConflict):
        a.commit([put("p1", 1, 0)])  # create of an existing id
    assert a.read("Patient", "p1").content == b'{"by":"b"}'


@pytest.mark.parametrize("previous", [0, 1])
def test_concurrent_writers_exactly_one_wins(pg_open: Callable[..., Any], previous: int) -> None:
    """Writers on separate connections racing for the same next version (a create of one id
    when ``previous`` is 0): per round exactly one commits, the rest get VersionConflict."""
    writers = 4
    stores = [pg_open() for _ in range(writers)]
    rounds = 15
    wins = [0] * writers
    errors: list[BaseException] = []
    for r in range(rounds):
        rid = f"r{r}"
        if previous:
            stores[0].commit([put(rid, 1, 0)])
        barrier = threading.Barrier(writers)

        def write(i: int, rid: str = rid, barrier: threading.Barrier = barrier) -> None:
            change = put(rid, previous + 1, previous, f'{{"w":{i}}}'.encode())
            barrier.wait()
            try:
                stores[i].commit([change, put(f"{rid}-own{i}", 1, 0)])
                wins[i] += 1
            except VersionConflict:
                pass
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert sum(wins) == r + 1
        head = stores[1].head("Patient", rid)
        assert head is not None
        assert head.version == previous + 1
        # The losers' other write was rolled back with the conflicting one.
        own = [stores[1].head("Patient", f"{rid}-own{i}") for i in range(writers)]
        assert sum(h is not None for h in own) == 1
    assert sum(wins) == rounds


def test_a_transaction_locking_in_opposite_orders_does_not_hang(
    pg_open: Callable[..., Any],
) -> None:
    a, b = pg_open(), pg_open()
    a.commit([put("x", 1, 0), put("y", 1, 0)])
    results: list[str] = []
    barrier = threading.Barrier(2)

    def run(store: Any, changes: list[Change]) -> None:
        barrier.wait()
        try:
            store.commit(changes)
            results.append("ok")
        except VersionConflict:
            results.append("conflict")

    threads = [
        threading.Thread(target=run, args=(a, [put("x", 2, 1), put("y", 2, 1)])),
        threading.Thread(target=run, args=(b, [put("y", 2, 1), put("x", 2, 1)])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["conflict", "ok"]


def test_erasure_by_another_store_stops_writes_with_a_cached_key(
    pg_open: Callable[..., Any],
) -> None:
    writer, eraser = pg_open(), pg_open()
    writer.commit([put("p1", 1, 0, b'{"a":1}')])
    assert writer.read("Patient", "p1").content == b'{"a":1}'  # the key is now cached
    eraser.erase_patient("Patient/p1")
    ref = "Patient/p1"
    with pytest.raises(ResourceGone):
        writer.commit([Change("Observation", "o1", 1, 0, T0, ref, b"{}")])
    with pytest.raises(ResourceGone):
        writer.read("Patient", "p1")
    assert writer.history("Patient", None, None, 10, 0) == ([], 0)
    assert eraser.erase_patient("p1") == 0


def test_nul_characters_in_index_values_and_searches(pg_open: Callable[..., Any]) -> None:
    """PostgreSQL text has no U+0000: index and searched values drop it, the content keeps it."""
    store = pg_open()
    body = b'{"name":"a\\u0000b"}'
    store.commit([put("p1", 1, 0, body, index=(IndexEntry("name", "a\0b", "a\0b"),))])
    assert store.read("Patient", "p1").content == body

    def found(text: str, exact: bool = False) -> int:
        clause = Clause("name", "string", (StringValue(text, exact),))
        return int(store.search(SearchQuery("Patient", (clause,)))[1])

    assert found("a\0") == found("ab") == found("a\0b", exact=True) == 1
    assert found("b") == 0


def test_string_prefixes_compare_by_code_point(pg_open: Callable[..., Any]) -> None:
    store = pg_open()
    names = ["a", "ab", "a b", "aé", "a😀", "b", "Z", "\U0010fffe"]
    store.commit(
        [put(f"p{i}", 1, 0, index=(IndexEntry("name", n, n),)) for i, n in enumerate(names)]
    )

    def found(prefix: str) -> set[str]:
        clause = Clause("name", "string", (StringValue(prefix),))
        return {v.id for v in store.search(SearchQuery("Patient", (clause,), count=50))[0]}

    assert found("a") == {"p0", "p1", "p2", "p3", "p4"}
    assert found("a ") == {"p2"}
    assert found("Z") == {"p6"}
    assert found("\U0010fffe") == {"p7"}


def test_text_columns_compare_by_code_point(pg_open: Callable[..., Any], pg_schema: str) -> None:
    """Every text column is ``COLLATE "C"`` or never compared by order; checked in the catalog
    since a server without ICU cannot make a database whose default order differs."""
    db = pg_open().raw_connection()
    rows = db.execute(
        "SELECT table_name, column_name, collation_name FROM information_schema.columns"
        " WHERE table_schema = %s AND data_type = 'text'",
        (pg_schema,),
    ).fetchall()
    unordered = {("patient_keys", "master_key_id"), ("patient_keys", "erased_at")}
    unordered |= {("versions", "last_updated"), ("versions", "content_hash")}
    assert rows
    for table, column, collation in rows:
        assert collation == "C" or (table, column) in unordered, (table, column, collation)
