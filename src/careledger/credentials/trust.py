"""The in-memory trust registry: which issuer DIDs are trusted for which credential types.

The consortium's trust-registry contract will back :class:`~careledger.credentials.base.
TrustRegistry` on the ledger; this implementation serves tests and the embedded network.
"""

from __future__ import annotations

from collections import defaultdict


class InMemoryTrustRegistry:
    """Issuer → credential types it is accredited for."""

    def __init__(self) -> None:
        self._accredited: dict[str, set[str]] = defaultdict(set)

    def trust(self, issuer: str, *credential_types: str) -> None:
        """Accredit ``issuer`` for each of ``credential_types`` (VC types or SD-JWT ``vct``)."""
        self._accredited[issuer].update(credential_types)

    def revoke(self, issuer: str, credential_type: str | None = None) -> None:
        """Withdraw accreditation for one type, or all types when ``credential_type`` is None."""
        if credential_type is None:
            self._accredited.pop(issuer, None)
        else:
            self._accredited[issuer].discard(credential_type)

    def is_trusted(self, issuer: str, credential_type: str) -> bool:
        """True when ``issuer`` is accredited for ``credential_type``."""
        return credential_type in self._accredited.get(issuer, ())
