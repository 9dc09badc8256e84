"""The node's SQLite claim archive keeps what the remittance needs across a restart."""

from __future__ import annotations

from pathlib import Path

from careledger.contracts.payer.model import ClaimParties
from careledger.payer.claims.archive import SQLiteClaimArchive
from careledger.payer.claims_service import ArchivedClaim, MemoryClaimArchive
from tests.payer.factories import OTHER_MEMBER, claim

PARTIES = ClaimParties(member_id="W1", subscriber_last="RIVERA", birth_date="1961-07-14")


def test_claims_survive_a_restart_and_are_found_by_payee_and_member(tmp_path: Path) -> None:
    path = tmp_path / "payer-claims.sqlite"
    archive = SQLiteClaimArchive(path)
    first = ArchivedClaim(claim(claim_id="PCN-1"), PARTIES, "CI", "Org1", "ORG1 CLINIC")
    second = ArchivedClaim(claim(claim_id="PCN-2", member=OTHER_MEMBER), PARTIES, submitter="Org3")
    memory = MemoryClaimArchive()
    for key, item in (("a" * 64, first), ("b" * 64, second)):
        archive.put(key, item, digest=key.replace("a", "d").replace("b", "e"))
        memory.put(key, item, digest=key.replace("a", "d").replace("b", "e"))
    replacement = ArchivedClaim(claim(claim_id="PCN-1", frequency_code="7"), PARTIES)
    archive.put("a" * 64, replacement, digest="f" * 64)
    memory.put("a" * 64, replacement, digest="f" * 64)
    archive.close()
    reopened = SQLiteClaimArchive(path)
    assert reopened.get("a" * 64) == replacement  # the current claim under the key
    assert reopened.version("d" * 64) == first  # the original version, for its remittance
    assert reopened.version("f" * 64) == replacement
    assert memory.version("d" * 64) == first
    assert reopened.get("c" * 64) is None
    npi = first.claim.billing_npi
    for store in (reopened, memory):
        assert store.find() == ["a" * 64, "b" * 64]
        assert store.find(billing_npi=npi, member=OTHER_MEMBER) == ["b" * 64]
        assert store.find(billing_npi="1000000004") == []
    reopened.close()
