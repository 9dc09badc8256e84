"""Extension points of the credentials package, each a small Protocol with an in-memory default.

* :class:`KeyResolver` — turns a verification method id into a key authorised for a purpose
  (implemented by :class:`careledger.identity.did.DidResolver`).
* :class:`StatusListSource` — where status list credentials are published (the ledger later;
  :class:`careledger.credentials.status.bitstring.InMemoryStatusListSource` now).
* :class:`TrustRegistry` — which issuers are trusted for which credential types (a ledger contract
  later; :class:`careledger.credentials.trust.InMemoryTrustRegistry` now).
"""

from __future__ import annotations

from typing import Protocol

from careledger.identity.did.resolver import MethodLookup


class KeyResolver(Protocol):
    """Finds the public key of a verification method and checks its verification relationship.

    Never raises for an unknown or unauthorised method: the answer's ``error`` says why.
    """

    def verification_method(self, method_id: str, relationship: str) -> MethodLookup:
        """The method ``method_id`` if its controller authorises it for ``relationship``."""
        ...

    def authorised_methods(self, did: str, relationship: str) -> tuple[tuple[str, ...], str]:
        """Ids of every method ``did`` authorises for ``relationship``, and an error text (empty
        unless ``did`` cannot be resolved). Used when a JWT names no ``kid``."""
        ...


class StatusListSource(Protocol):
    """Serves published BitstringStatusListCredentials by URL, as the JSON bytes published.

    Returns ``None`` when nothing is published at ``url``; raises ``OSError`` only for a fault
    reaching the source. Bytes (not parsed JSON) so the verifier can cache a verified list by its
    digest; it checks the list credential's proof itself.

    Example::

        source.get("https://payer.example/status/1")  # -> b'{"@context": …}' or None
    """

    def get(self, url: str) -> bytes | None:
        """The status list credential published at ``url``."""
        ...


class TrustRegistry(Protocol):
    """Answers whether an issuer DID is trusted to issue a credential type.

    ``credential_type`` is a VC ``type`` value (e.g. ``InsuranceCoverageCredential``) or an SD-JWT
    ``vct`` URL. Unknown issuers are simply not trusted; nothing raises.
    """

    def is_trusted(self, issuer: str, credential_type: str) -> bool:
        """True when ``issuer`` may issue ``credential_type``."""
        ...
