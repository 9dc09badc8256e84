"""W3C Bitstring Status List v1.0: revocation and suspension of issued credentials.

* :class:`StatusList` — the bitstring (GZIP, then multibase base64url, ``u`` prefix); bit 0 is the
  most significant bit of the first byte. Default size 131,072 entries for herd privacy.
* :class:`StatusListIssuer` — an issuer's list: allocates random free indexes, flips bits and
  renders the ``BitstringStatusListCredential`` to sign and publish.
* :class:`StatusChecker` — checks a credential's ``credentialStatus`` entries against published
  lists, verifying each list credential's proof (cached by content).
* :class:`InMemoryStatusListSource` — a :class:`~careledger.credentials.base.StatusListSource`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import secrets
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from careledger.credentials.base import KeyResolver, StatusListSource
from careledger.credentials.data_integrity import parse_datetime, verify_proof
from careledger.credentials.document_loader import CREDENTIALS_V2
from careledger.credentials.errors import CredentialFormatError
from careledger.credentials.results import Reason, ReasonCode

DEFAULT_LIST_SIZE = 131_072
_MAX_LIST_BYTES = 16 * 1024 * 1024


class StatusPurpose(StrEnum):
    """Status purposes CareLedger acts on."""

    REVOCATION = "revocation"
    SUSPENSION = "suspension"


class StatusList:
    """A fixed-size bitstring of credential statuses."""

    def __init__(self, size: int = DEFAULT_LIST_SIZE, bits: bytes | None = None) -> None:
        if size <= 0 or size % 8:
            raise CredentialFormatError("status list size must be a positive multiple of 8")
        self.size = size
        self._bits = bytearray(bits) if bits is not None else bytearray(size // 8)
        if len(self._bits) * 8 != size:
            raise CredentialFormatError("bitstring length does not match the list size")

    def get(self, index: int) -> bool:
        """The status bit at ``index``."""
        self._check(index)
        return bool(self._bits[index >> 3] & (0x80 >> (index & 7)))

    def set(self, index: int, value: bool) -> None:
        """Set the status bit at ``index``."""
        self._check(index)
        mask = 0x80 >> (index & 7)
        if value:
            self._bits[index >> 3] |= mask
        else:
            self._bits[index >> 3] &= ~mask & 0xFF

    def encode(self) -> str:
        """``encodedList``: multibase base64url (no padding) of the GZIP-compressed bitstring."""
        packed = gzip.compress(bytes(self._bits), mtime=0)
        return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, encoded: str) -> StatusList:
        """Parse an ``encodedList``; raises :class:`CredentialFormatError` if it is not one."""
        if not encoded.startswith("u"):
            raise CredentialFormatError("encodedList must be multibase base64url ('u' prefix)")
        try:
            packed = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
            inflater = zlib.decompressobj(wbits=31)
            bits = inflater.decompress(packed, _MAX_LIST_BYTES)
        except (ValueError, zlib.error) as exc:
            raise CredentialFormatError(f"encodedList does not decode: {exc}") from exc
        if inflater.unconsumed_tail:
            raise CredentialFormatError("status list is larger than CareLedger accepts")
        return cls(len(bits) * 8, bits)

    def _check(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise CredentialFormatError(f"status index {index} outside list of {self.size}")


def status_entry(list_url: str, index: int, purpose: StatusPurpose) -> dict[str, Any]:
    """A ``BitstringStatusListEntry`` for a credential's ``credentialStatus``."""
    return {
        "id": f"{list_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose.value,
        "statusListIndex": str(index),
        "statusListCredential": list_url,
    }


@dataclass
class StatusListIssuer:
    """One issuer's status list for one purpose: allocation, updates and the list credential."""

    url: str
    issuer: str
    purpose: StatusPurpose
    size: int = DEFAULT_LIST_SIZE
    status_list: StatusList = field(init=False)
    _used: set[int] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.status_list = StatusList(self.size)

    def allocate(self) -> dict[str, Any]:
        """A fresh random index, as a ``credentialStatus`` entry (random for herd privacy)."""
        if len(self._used) >= self.size:
            raise CredentialFormatError(f"status list {self.url} is full")
        while True:
            index = secrets.randbelow(self.size)
            if index not in self._used:
                self._used.add(index)
                return status_entry(self.url, index, self.purpose)

    def set_status(self, index: int, value: bool) -> None:
        """Revoke/suspend (True) or reinstate (False, suspension only) the entry at ``index``."""
        if not value and self.purpose is StatusPurpose.REVOCATION and self.status_list.get(index):
            raise CredentialFormatError("revocation cannot be undone")
        self.status_list.set(index, value)

    def credential(self, valid_from: datetime | None = None) -> dict[str, Any]:
        """The unsigned ``BitstringStatusListCredential`` for the current bits."""
        stamp = (valid_from or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "@context": [CREDENTIALS_V2],
            "id": self.url,
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": self.issuer,
            "validFrom": stamp,
            "credentialSubject": {
                "id": f"{self.url}#list",
                "type": "BitstringStatusList",
                "statusPurpose": self.purpose.value,
                "encodedList": self.status_list.encode(),
            },
        }


class InMemoryStatusListSource:
    """Published status list credentials kept in memory (tests; the ledger will replace it)."""

    def __init__(self) -> None:
        self._lists: dict[str, bytes] = {}

    def publish(self, credential: Mapping[str, Any]) -> None:
        """Publish (or replace) a signed status list credential under its ``id``."""
        url = credential.get("id")
        if not isinstance(url, str):
            raise CredentialFormatError("a status list credential needs an id")
        self._lists[url] = json.dumps(credential).encode("utf-8")

    def get(self, url: str) -> bytes | None:
        """The credential published at ``url``."""
        return self._lists.get(url)


@dataclass(frozen=True)
class _CheckedList:
    issuer: str
    purpose: str
    bits: StatusList
    valid_until: datetime | None


class StatusChecker:
    """Checks ``credentialStatus`` entries; list credentials are verified once per content."""

    def __init__(self, source: StatusListSource, keys: KeyResolver, cache_size: int = 256) -> None:
        self._source = source
        self._keys = keys
        self._cache: dict[bytes, _CheckedList] = {}
        self._cache_size = cache_size

    def check(self, credential: Mapping[str, Any], now: datetime | None = None) -> list[Reason]:
        """Reasons the credential's status makes it unusable (empty when it is fine)."""
        raw = credential.get("credentialStatus")
        if raw is None:
            return []
        entries = raw if isinstance(raw, list) else [raw]
        reasons: list[Reason] = []
        for entry in entries:
            reasons.extend(self._check_entry(entry, credential.get("issuer"), now))
        return reasons

    def _check_entry(self, entry: Any, issuer: Any, now: datetime | None) -> list[Reason]:
        if not isinstance(entry, Mapping) or entry.get("type") != "BitstringStatusListEntry":
            return [Reason(ReasonCode.STATUS_UNAVAILABLE, "unsupported credentialStatus entry")]
        purpose = entry.get("statusPurpose")
        url = entry.get("statusListCredential")
        try:
            index = int(str(entry.get("statusListIndex")))
        except ValueError:
            return [Reason(ReasonCode.MALFORMED, "statusListIndex is not an integer")]
        if not isinstance(url, str):
            return [Reason(ReasonCode.MALFORMED, "statusListCredential is missing")]
        checked = self._load(url, now)
        if isinstance(checked, Reason):
            return [checked]
        issuer_id = issuer.get("id") if isinstance(issuer, Mapping) else issuer
        if checked.issuer != issuer_id:
            return [
                Reason(
                    ReasonCode.STATUS_UNAVAILABLE,
                    f"status list {url} is not issued by the credential's issuer",
                )
            ]
        if checked.purpose != purpose:
            return [
                Reason(
                    ReasonCode.STATUS_UNAVAILABLE,
                    f"status list {url} is for {checked.purpose!r}, entry says {purpose!r}",
                )
            ]
        try:
            flagged = checked.bits.get(index)
        except CredentialFormatError as exc:
            return [Reason(ReasonCode.MALFORMED, str(exc))]
        if not flagged:
            return []
        if purpose == StatusPurpose.REVOCATION:
            return [Reason(ReasonCode.REVOKED, f"revoked (list {url}, index {index})")]
        if purpose == StatusPurpose.SUSPENSION:
            return [Reason(ReasonCode.SUSPENDED, f"suspended (list {url}, index {index})")]
        return []

    def _load(self, url: str, now: datetime | None) -> _CheckedList | Reason:
        try:
            published = self._source.get(url)
        except OSError as exc:
            return Reason(ReasonCode.STATUS_UNAVAILABLE, f"status list {url} unreachable: {exc}")
        if published is None:
            return Reason(ReasonCode.STATUS_UNAVAILABLE, f"no status list published at {url}")
        digest = hashlib.sha256(published).digest()
        cached = self._cache.get(digest)
        if cached is None:
            try:
                document = json.loads(published)
            except ValueError:
                return Reason(ReasonCode.STATUS_UNAVAILABLE, f"status list {url} is not JSON")
            if not isinstance(document, dict):
                return Reason(ReasonCode.STATUS_UNAVAILABLE, f"status list {url} is not a VC")
            outcome = _verify_list(document, url, self._keys, now)
            if isinstance(outcome, Reason):
                return outcome
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[digest] = cached = outcome
        if cached.valid_until is not None and cached.valid_until < (now or datetime.now(UTC)):
            return Reason(ReasonCode.STATUS_UNAVAILABLE, f"status list {url} has expired")
        return cached


def _verify_list(
    published: Mapping[str, Any], url: str, keys: KeyResolver, now: datetime | None
) -> _CheckedList | Reason:
    types = published.get("type", [])
    if published.get("id") != url or "BitstringStatusListCredential" not in types:
        return Reason(ReasonCode.STATUS_UNAVAILABLE, f"{url} is not a status list credential")
    proof = verify_proof(published, keys, now=now)
    if not proof.ok:
        return Reason(
            ReasonCode.STATUS_UNAVAILABLE, f"status list {url} does not verify: {proof.reasons[0]}"
        )
    subject = published.get("credentialSubject", {})
    issuer = published.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    proofs = published["proof"] if isinstance(published["proof"], list) else [published["proof"]]
    if any(str(p.get("verificationMethod", "")).split("#", 1)[0] != issuer_id for p in proofs):
        return Reason(
            ReasonCode.STATUS_UNAVAILABLE, f"status list {url} is not signed by its issuer"
        )
    try:
        bits = StatusList.decode(str(subject.get("encodedList", "")))
    except CredentialFormatError as exc:
        return Reason(ReasonCode.STATUS_UNAVAILABLE, f"status list {url}: {exc}")
    return _CheckedList(
        str(issuer_id),
        str(subject.get("statusPurpose")),
        bits,
        parse_datetime(published.get("validUntil")),
    )
