"""IETF Token Status List (draft-ietf-oauth-status-list) for SD-JWT VCs.

What other SD-JWT VC verifiers (e.g. ``@sd-jwt/sd-jwt-vc``) understand: the credential carries
``status: {"status_list": {"idx": N, "uri": URL}}`` and the issuer publishes at ``URL`` a *status
list token* — a JWT with ``typ: statuslist+jwt`` whose ``status_list`` claim is
``{"bits": 1|2|4|8, "lst": base64url(zlib(bytes))}``. Entry ``i`` lives in byte
``i // (8 / bits)`` at bit offset ``(i % (8 / bits)) * bits`` counted from the least significant
bit (unlike the W3C bitstring, which counts from the most significant).

* :class:`TokenStatusList` — the packed list, its ``lst`` encoding and decoding (bounded);
* :class:`TokenStatusListIssuer` — allocates random indexes, sets statuses (``INVALID`` is final)
  and signs the status list token;
* :class:`TokenStatusChecker` — resolves a credential's ``status_list`` reference through a
  :class:`~careledger.credentials.base.StatusListSource` (the ledger: the ``status_lists``
  contract stores tokens too) and checks the token's signature with the issuer's key.

Tokens are published through :class:`careledger.credentials.ledger.StatusListPublisher` and
served by every node at ``/status-lists/{org}/{name}`` (:mod:`careledger.api.status_list_tokens`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from careledger.credentials.base import KeyResolver, StatusListSource
from careledger.credentials.errors import CredentialFormatError
from careledger.credentials.jws import CompactJws, sign_compact
from careledger.credentials.results import Reason, ReasonCode
from careledger.identity.did.errors import InvalidDid
from careledger.identity.did.jwk import b64url, b64url_decode
from careledger.identity.did.keys import Ed25519Signer

TYP = "statuslist+jwt"
MEDIA_TYPE = "application/statuslist+jwt"
ALLOWED_BITS = (1, 2, 4, 8)
DEFAULT_SIZE = 131_072  # entries: herd privacy, as for the W3C bitstring lists
MAX_ENTRIES = 1_048_576
#: the path under a node where tokens are served: ``/status-lists/{org}/{name}``
PATH_PREFIX = "/status-lists/"


class TokenStatus(IntEnum):
    """Status values the draft registers (3 and above are application-specific)."""

    VALID = 0
    INVALID = 1
    SUSPENDED = 2


class TokenStatusList:
    """``size`` statuses of ``bits`` bits each, packed as the draft specifies."""

    def __init__(self, size: int = DEFAULT_SIZE, bits: int = 1, data: bytes | None = None) -> None:
        if bits not in ALLOWED_BITS:
            raise CredentialFormatError(f"bits must be one of {ALLOWED_BITS}, not {bits}")
        per_byte = 8 // bits
        if size <= 0 or size % per_byte or size > MAX_ENTRIES:
            raise CredentialFormatError(
                f"a status list holds 1 to {MAX_ENTRIES} entries, a multiple of {per_byte}"
            )
        self.size, self.bits = size, bits
        self._data = bytearray(data) if data is not None else bytearray(size // per_byte)
        if len(self._data) != size // per_byte:
            raise CredentialFormatError("status list length does not match its size")

    def _where(self, index: int) -> tuple[int, int]:
        if not 0 <= index < self.size:
            raise CredentialFormatError(f"status index {index} outside list of {self.size}")
        per_byte = 8 // self.bits
        return index // per_byte, (index % per_byte) * self.bits

    def get(self, index: int) -> int:
        """The status value at ``index``."""
        byte, shift = self._where(index)
        return (self._data[byte] >> shift) & ((1 << self.bits) - 1)

    def set(self, index: int, value: int) -> None:
        """Set the status value at ``index``."""
        mask = (1 << self.bits) - 1
        if not 0 <= value <= mask:
            raise CredentialFormatError(f"status {value} does not fit in {self.bits} bit(s)")
        byte, shift = self._where(index)
        self._data[byte] = (self._data[byte] & ~(mask << shift) & 0xFF) | (value << shift)

    def encode(self) -> str:
        """``lst``: base64url (no padding) of the zlib-compressed bytes."""
        return b64url(zlib.compress(bytes(self._data), 9))

    def claim(self) -> dict[str, Any]:
        """The ``status_list`` claim of a status list token."""
        return {"bits": self.bits, "lst": self.encode()}

    @classmethod
    def decode(cls, lst: str, bits: int) -> TokenStatusList:
        """Parse ``lst``; :class:`CredentialFormatError` if malformed or too large."""
        if bits not in ALLOWED_BITS:
            raise CredentialFormatError(f"bits must be one of {ALLOWED_BITS}, not {bits}")
        try:
            packed = b64url_decode(lst)
            inflater = zlib.decompressobj()
            data = inflater.decompress(packed, MAX_ENTRIES * bits // 8)
        except (InvalidDid, zlib.error) as exc:
            raise CredentialFormatError(f"status list lst does not decode: {exc}") from exc
        if inflater.unconsumed_tail or not inflater.eof:
            raise CredentialFormatError("status list is truncated or larger than accepted")
        return cls(len(data) * (8 // bits), bits, data)


def status_reference(uri: str, index: int) -> dict[str, Any]:
    """The SD-JWT VC ``status`` claim value pointing at entry ``index`` of the list at ``uri``."""
    return {"status_list": {"idx": index, "uri": uri}}


def node_list_uri(base_url: str, org: str, name: str) -> str:
    """The URL under which the node at ``base_url`` serves ``org``'s list ``name``."""
    return f"{base_url.rstrip('/')}{PATH_PREFIX}{org}/{name}"


@dataclass
class TokenStatusListIssuer:
    """One issuer's token status list: allocation, updates and the signed token.

    ``kid`` is the issuer's assertion key (``did#fragment``); the issuer is its DID. With
    ``bits=2`` entries can also be suspended (and reinstated); ``INVALID`` is final.
    """

    uri: str
    kid: str
    size: int = DEFAULT_SIZE
    bits: int = 1
    status_list: TokenStatusList = field(init=False)
    _used: set[int] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.status_list = TokenStatusList(self.size, self.bits)

    @property
    def issuer(self) -> str:
        """The issuer DID (the controller of ``kid``)."""
        return self.kid.split("#", 1)[0]

    def allocate(self) -> dict[str, Any]:
        """A fresh random index, as the credential's ``status`` claim (random: herd privacy)."""
        if len(self._used) >= self.size:
            raise CredentialFormatError(f"status list {self.uri} is full")
        while True:
            index = secrets.randbelow(self.size)
            if index not in self._used:
                self._used.add(index)
                return status_reference(self.uri, index)

    def set_status(self, index: int, status: TokenStatus) -> None:
        """Change entry ``index``; an ``INVALID`` (revoked) entry never changes again."""
        if self.status_list.get(index) == TokenStatus.INVALID and status != TokenStatus.INVALID:
            raise CredentialFormatError("revocation cannot be undone")
        self.status_list.set(index, int(status))

    def token(
        self,
        signer: Ed25519Signer,
        now: float | None = None,
        lifetime: int = 86_400,
        ttl: int = 300,
    ) -> str:
        """The signed status list token for the current statuses."""
        issued = int(time.time() if now is None else now)
        payload = {
            "iss": self.issuer,
            "sub": self.uri,
            "iat": issued,
            "exp": issued + lifetime,
            "ttl": ttl,
            "status_list": self.status_list.claim(),
        }
        return sign_compact({"typ": TYP, "kid": self.kid}, payload, signer)


@dataclass(frozen=True)
class _CheckedToken:
    issuer: str
    statuses: TokenStatusList
    expires: float | None


class TokenStatusChecker:
    """Checks ``status.status_list`` references; tokens are verified once per content."""

    def __init__(self, source: StatusListSource, keys: KeyResolver, cache_size: int = 256) -> None:
        self._source = source
        self._keys = keys
        self._cache: dict[bytes, _CheckedToken] = {}
        self._cache_size = cache_size

    def check(self, reference: Any, issuer: str, now: float) -> list[Reason]:
        """Reasons the referenced status makes the credential unusable (empty when valid)."""
        if not isinstance(reference, Mapping):
            return [Reason(ReasonCode.MALFORMED, "status.status_list must be an object")]
        index, uri = reference.get("idx"), reference.get("uri")
        if type(index) is not int or index < 0 or not isinstance(uri, str):
            return [Reason(ReasonCode.MALFORMED, "status.status_list needs an integer idx and uri")]
        checked = self._load(uri, now)
        if isinstance(checked, Reason):
            return [checked]
        if checked.issuer != issuer:
            return [Reason(ReasonCode.STATUS_UNAVAILABLE, f"status list {uri} is not the issuer's")]
        try:
            value = checked.statuses.get(index)
        except CredentialFormatError as exc:
            return [Reason(ReasonCode.MALFORMED, str(exc))]
        if value == TokenStatus.VALID:
            return []
        if value == TokenStatus.INVALID:
            return [Reason(ReasonCode.REVOKED, f"revoked (status list {uri}, idx {index})")]
        if value == TokenStatus.SUSPENDED:
            return [Reason(ReasonCode.SUSPENDED, f"suspended (status list {uri}, idx {index})")]
        return [Reason(ReasonCode.STATUS_UNAVAILABLE, f"status {value} is not understood")]

    def _load(self, uri: str, now: float) -> _CheckedToken | Reason:
        try:
            published = self._source.get(uri)
        except OSError as exc:
            return Reason(ReasonCode.STATUS_UNAVAILABLE, f"status list {uri} unreachable: {exc}")
        if published is None:
            return Reason(ReasonCode.STATUS_UNAVAILABLE, f"no status list published at {uri}")
        digest = hashlib.sha256(published).digest()
        cached = self._cache.get(digest)
        if cached is None:
            outcome = self._verify(published, uri)
            if isinstance(outcome, Reason):
                return outcome
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[digest] = cached = outcome
        if cached.expires is not None and cached.expires < now:
            return Reason(ReasonCode.STATUS_UNAVAILABLE, f"status list {uri} has expired")
        return cached

    def _verify(self, published: bytes, uri: str) -> _CheckedToken | Reason:
        def unavailable(why: str) -> Reason:
            return Reason(ReasonCode.STATUS_UNAVAILABLE, f"status list {uri}: {why}")

        try:
            jws = CompactJws.parse(published.decode("ascii").strip())
        except (UnicodeDecodeError, CredentialFormatError) as exc:
            return unavailable(f"not a status list token ({exc})")
        header, payload = jws.header, jws.payload
        if header.get("typ") != TYP:
            return unavailable(f"typ {header.get('typ')!r} is not {TYP}")
        if payload.get("sub") != uri:
            return unavailable(f"sub {payload.get('sub')!r} is not the list's URI")
        kid, iss = header.get("kid"), payload.get("iss")
        if not isinstance(kid, str) or not isinstance(iss, str):
            return unavailable("a status list token needs a kid header and an iss claim")
        absolute = iss + kid if kid.startswith("#") else kid
        if absolute.split("#", 1)[0] != iss:
            return unavailable(f"kid {kid} is not a key of {iss}")
        lookup = self._keys.verification_method(absolute, "assertionMethod")
        if lookup.method is None:
            return unavailable(lookup.error)
        if not jws.verify(lookup.method.public_key):
            return unavailable("signature does not verify")
        claim = payload.get("status_list")
        exp = payload.get("exp")
        if not isinstance(claim, Mapping) or (exp is not None and not isinstance(exp, int)):
            return unavailable("status_list claim (or exp) is malformed")
        try:
            statuses = TokenStatusList.decode(str(claim.get("lst", "")), int(claim.get("bits", 0)))
        except (CredentialFormatError, TypeError, ValueError) as exc:
            return unavailable(str(exc))
        return _CheckedToken(iss, statuses, None if exp is None else float(exp))
