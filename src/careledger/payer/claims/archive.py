"""The node's claim archive: the claims a payer adjudicated, as billed, with the people on them.

A :class:`~careledger.payer.claims_service.ClaimArchive` in a SQLite file under the node's data
directory (``payer-claims.sqlite``). It holds PHI — names, member ids, NPIs, dates of service —
and never leaves the payer; the ledger has only the claim's keyed ledger form. With the chain it
is all the remittance needs: an 835 or an ExplanationOfBenefit is re-derived from the committed
adjudication and the row here, byte for byte.
"""

from __future__ import annotations

import threading
from pathlib import Path

import msgspec

from careledger.contracts.payer.model import Claim, ClaimParties
from careledger.payer.claims_service import ArchivedClaim
from careledger.sqlite_files import open_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    claim_key TEXT NOT NULL UNIQUE,
    billing_npi TEXT NOT NULL,
    member TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS claims_by_payee ON claims (billing_npi, seq);
CREATE INDEX IF NOT EXISTS claims_by_member ON claims (member, seq);
CREATE TABLE IF NOT EXISTS claim_versions (
    digest TEXT PRIMARY KEY,
    body BLOB NOT NULL
);
"""


class _Row(msgspec.Struct, frozen=True):
    claim: Claim
    parties: ClaimParties
    filing_indicator: str
    submitter: str
    payee_name: str


class SQLiteClaimArchive:
    """:class:`~careledger.payer.claims_service.ClaimArchive` in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self._db = open_wal(path, _SCHEMA, "the payer claim archive")
        self._lock = threading.Lock()

    def put(self, claim_key: str, item: ArchivedClaim, digest: str = "") -> None:
        body = msgspec.msgpack.encode(
            _Row(item.claim, item.parties, item.filing_indicator, item.submitter, item.payee_name)
        )
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO claims (claim_key, billing_npi, member, body) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (claim_key) DO UPDATE SET body = excluded.body",
                    (claim_key, item.claim.billing_npi, item.claim.member, body),
                )
                if digest:
                    self._db.execute(
                        "INSERT OR IGNORE INTO claim_versions (digest, body) VALUES (?, ?)",
                        (digest, body),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def get(self, claim_key: str) -> ArchivedClaim | None:
        return self._one("SELECT body FROM claims WHERE claim_key = ?", claim_key)

    def version(self, digest: str) -> ArchivedClaim | None:
        return self._one("SELECT body FROM claim_versions WHERE digest = ?", digest)

    def _one(self, sql: str, arg: str) -> ArchivedClaim | None:
        with self._lock:
            row = self._db.execute(sql, (arg,)).fetchone()
        if row is None:
            return None
        found = msgspec.msgpack.decode(row[0], type=_Row)
        return ArchivedClaim(
            found.claim, found.parties, found.filing_indicator, found.submitter, found.payee_name
        )

    def find(self, *, billing_npi: str | None = None, member: str | None = None) -> list[str]:
        where, args = [], []
        if billing_npi is not None:
            where.append("billing_npi = ?")
            args.append(billing_npi)
        if member is not None:
            where.append("member = ?")
            args.append(member)
        sql = "SELECT claim_key FROM claims"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
