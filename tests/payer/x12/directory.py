"""An in-memory claim directory for the X12 tests: payer ids to organisations, member handles
derived from the member id (the real one is the node's off-chain member index)."""

from __future__ import annotations

import hashlib


class MemoryDirectory:
    def __init__(self, payers: dict[str, str], members: set[str] | None = None) -> None:
        self.payers = payers
        self.members = members  # None: every member id is known

    def payer_org(self, payer_id: str) -> str | None:
        return self.payers.get(payer_id)

    def member_handle(self, payer_org: str, member_id: str) -> str | None:
        if self.members is not None and member_id not in self.members:
            return None
        return "ph1" + hashlib.sha256(f"{payer_org}|{member_id}".encode()).hexdigest()


SAMPLE_DIRECTORY = MemoryDirectory({"999996666": "keyhealth"})
