"""Membership: organisations, their members, and checking an identity against them.

Each organisation has a root Ed25519 key (its certificate authority). A member — a peer, orderer,
client or admin — holds a :class:`MemberCert` signed by its organisation's root key; that signed
certificate *is* the member's identity on the wire. Like Fabric's MSP, the consortium does not
enrol every client on chain: it knows only the organisations' roots and the serials each
organisation has revoked, both held in the governance namespace of the world state. A signature
is therefore checked against the membership in force at the block being validated.

Certificates are canonical CBOR (see :mod:`careledger.crypto.encoding`) rather than X.509: the
ledger needs only (org, name, role, key, serial), and one encoding for everything signed keeps
verification offline and simple.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import msgspec

from careledger.crypto import encoding
from careledger.crypto.hashing import sha256
from careledger.crypto.keys import SigningKey, verify
from careledger.errors import EncodingError, MembershipError


class Role(enum.StrEnum):
    PEER = "peer"
    ORDERER = "orderer"
    CLIENT = "client"
    ADMIN = "admin"


class MemberCert(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What an organisation's root key certifies about one member."""

    org: str
    name: str
    role: Role
    public_key: bytes
    serial: int
    issued_at: int


class OrgDef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An organisation as the consortium knows it: its id and its root public key."""

    id: str
    root_key: bytes
    name: str = ""


def cert_to_wire(cert: MemberCert) -> dict[str, Any]:
    return {
        "org": cert.org,
        "name": cert.name,
        "role": str(cert.role),
        "public_key": cert.public_key,
        "serial": cert.serial,
        "issued_at": cert.issued_at,
    }


def issue_cert(root: SigningKey, cert: MemberCert) -> bytes:
    """Sign ``cert`` with the organisation root key; returns the identity bytes."""
    body = encoding.encode(cert_to_wire(cert))
    return encoding.encode({"body": body, "sig": root.sign(body)})


def parse_cert(identity: bytes) -> tuple[MemberCert, bytes, bytes]:
    """Split identity bytes into (certificate, signed body, root signature).

    Raises EncodingError for bytes that are not a signed certificate.
    """
    outer = encoding.decode(identity)
    if not isinstance(outer, dict) or set(outer) != {"body", "sig"}:
        raise EncodingError("identity is not a signed member certificate")
    body, sig = outer["body"], outer["sig"]
    if not isinstance(body, bytes) or not isinstance(sig, bytes):
        raise EncodingError("identity fields must be bytes")
    try:
        cert = msgspec.convert(encoding.decode(body), MemberCert, strict=True)
    except msgspec.ValidationError as exc:
        raise EncodingError(f"member certificate: {exc}") from exc
    return cert, body, sig


@dataclass(slots=True)
class Membership:
    """The organisations and revocations in force at one block height."""

    orgs: dict[str, OrgDef]
    revoked: set[tuple[str, int]] = field(default_factory=set)
    _cache: dict[bytes, MemberCert] = field(default_factory=dict, repr=False)

    def validate(self, identity: bytes) -> MemberCert:
        """The certificate of a current member; raises MembershipError otherwise."""
        cert = self._cache.get(identity)
        if cert is None:
            try:
                cert, body, sig = parse_cert(identity)
            except EncodingError as exc:
                raise MembershipError(f"malformed identity: {exc}") from exc
            org = self.orgs.get(cert.org)
            if org is None:
                raise MembershipError(f"organisation {cert.org!r} is not a consortium member")
            if not verify(org.root_key, body, sig):
                raise MembershipError(
                    f"certificate of {cert.org}.{cert.name} is not signed by {cert.org}'s root"
                )
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[identity] = cert
        if (cert.org, cert.serial) in self.revoked:
            raise MembershipError(
                f"member {cert.org}.{cert.name} (serial {cert.serial}) is revoked"
            )
        if cert.org not in self.orgs:
            raise MembershipError(f"organisation {cert.org!r} is no longer a consortium member")
        return cert

    def admits(self, cert: MemberCert) -> bool:
        """Whether ``cert``, validated earlier, is still a current member (its organisation
        in the consortium, itself not revoked): for connections that outlive one request."""
        return cert.org in self.orgs and (cert.org, cert.serial) not in self.revoked

    def org_ids(self) -> list[str]:
        return sorted(self.orgs)


@dataclass(frozen=True, slots=True)
class LocalIdentity:
    """A member's own certificate and private key: what it signs with."""

    cert: MemberCert
    identity: bytes
    key: SigningKey

    @property
    def org(self) -> str:
        return self.cert.org

    @property
    def label(self) -> str:
        return f"{self.cert.org}.{self.cert.name}"

    @property
    def identity_hash(self) -> bytes:
        return sha256(self.identity)

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)


def enrol(
    root: SigningKey, org: str, name: str, role: Role, serial: int, issued_at: int
) -> LocalIdentity:
    """Create a key pair for a new member and its certificate signed by ``root``."""
    key = SigningKey.generate()
    cert = MemberCert(org, name, role, key.public.raw, serial, issued_at)
    return LocalIdentity(cert, issue_cert(root, cert), key)
