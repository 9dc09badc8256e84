"""Whether a directory PractitionerRole is *verified*: its practitioner's licence credential.

At publication (:meth:`LicenceCheck.reference`) the publishing node verifies the whole licence
credential against the ledger — proof, issuer's key (``dids``), issuer accredited for
``PractitionerLicenseCredential`` (``trust_registry``), validity, status (``status_lists``) — and
keeps a :class:`~careledger.contracts.payer.directory.LicenceRef` in the directory: its hash,
issuer, status list entry and end of validity. The credential's content cannot change (its hash
is on the ledger); what can change is checked at every read (:meth:`LicenceCheck.verified`): the
issuer's accreditation, the end of validity, and the status list entry, read from the ledger
and its proof checked. A licensing board revoking the licence flips the bit in its list and the
role reads as unverified from the next block, with no directory write.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from careledger.credentials.ledger import (
    LedgerQuery,
    LedgerStatusListSource,
    LedgerTrustRegistry,
    ledger_resolver,
    ledger_verifier,
)
from careledger.credentials.status.bitstring import StatusChecker
from careledger.errors import Unprocessable

LICENCE_TYPE = "PractitionerLicenseCredential"


@dataclass(frozen=True, slots=True)
class LicenceStatus:
    verified: bool
    reason: str | None = None


def credential_digest(credential: Mapping[str, Any]) -> str:
    text = json.dumps(credential, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


class LicenceCheck:
    """Licence checks against the ledger through ``query`` (a node's own peer)."""

    def __init__(self, query: LedgerQuery, clock: Callable[[], float] = time.time) -> None:
        self._query = query
        self._clock = clock
        resolver = ledger_resolver(query, cache_ttl=0)
        self._trust = LedgerTrustRegistry(query)
        self._status = StatusChecker(LedgerStatusListSource(query), resolver)

    def reference(self, credential: Mapping[str, Any]) -> dict[str, Any]:
        """The LicenceRef of a credential that verifies now; Unprocessable (422) otherwise."""
        result = ledger_verifier(self._query).verify_credential(credential, LICENCE_TYPE)
        if not result.ok:
            raise Unprocessable(f"the licence credential does not verify: {result.reasons[0]}")
        status = credential.get("credentialStatus")
        entry = status[0] if isinstance(status, list) and status else status
        until = credential.get("validUntil")
        if not isinstance(entry, Mapping) or not isinstance(until, str):
            raise Unprocessable("a licence credential needs a status list entry and validUntil")
        end = datetime.fromisoformat(until.replace("Z", "+00:00"))
        return {
            "credential": credential_digest(credential),
            "issuer": result.issuer,
            "status_list": entry.get("statusListCredential"),
            "status_index": int(str(entry.get("statusListIndex"))),
            "purpose": entry.get("statusPurpose"),
            "valid_until": int(end.timestamp() * 1000),
        }

    def verified(self, licence: Mapping[str, Any]) -> LicenceStatus:
        """The state of a LicenceRef now, from the ledger."""
        now = self._clock()
        if licence["valid_until"] < now * 1000:
            return LicenceStatus(False, "the licence has expired")
        if not self._trust.is_trusted(str(licence["issuer"]), LICENCE_TYPE):
            return LicenceStatus(False, "the issuer is not accredited for licences")
        entry = {
            "type": "BitstringStatusListEntry",
            "statusPurpose": licence["purpose"],
            "statusListCredential": licence["status_list"],
            "statusListIndex": str(licence["status_index"]),
        }
        reasons = self._status.check(
            {"issuer": licence["issuer"], "credentialStatus": entry},
            datetime.fromtimestamp(now, UTC),
        )
        if reasons:
            return LicenceStatus(False, str(reasons[0]))
        return LicenceStatus(True)
