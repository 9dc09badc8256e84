"""The ``status_lists`` system contract: Bitstring Status List credentials published on the ledger.

An organisation admin publishes a signed status list credential (its JSON bytes) for an issuer DID
that the trust registry binds to the admin's organisation; later versions replace it under the same
URL (the credential ``id``). The contract stores the bytes, their SHA-256 and a sequence number;
verifiers fetch them through :class:`careledger.credentials.ledger.LedgerStatusListSource` and
check the list's proof themselves (the contract does not canonicalize JSON-LD).

What the contract enforces, deterministically:

* the credential has exactly the shape of a BitstringStatusListCredential — every field is an
  identifier, a date, a multibase value or a purpose; unknown fields are refused, so there is no
  place for free text (status lists carry no PHI, and this keeps it so);
* ``encodedList`` decodes (GZIP, at most :data:`MAX_LIST_ENTRIES` entries);
* an update keeps the issuer, purpose, list size and publishing organisation, and for
  ``revocation`` lists never clears a bit (revocation is final).

It also stores IETF Token Status List tokens (``publish_token``; the shape is checked in
:mod:`careledger.contracts.status_list_tokens`) under ``token/<org>/<name>`` — the end of their
URI — with the same rules: the issuer is bound to the publishing organisation, an update keeps
issuer, URI, ``bits`` and size, and a revoked entry (status 1) stays revoked. ``get`` answers for
both kinds by URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from typing import Annotated, Any, Literal

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query
from careledger.contracts.status_list_tokens import (
    TOKEN_URI,
    clears_a_revocation,
    parse_status_list_token,
)
from careledger.contracts.trust_registry import NAMESPACE as TRUST_NAMESPACE
from careledger.contracts.trust_registry import IssuerBinding
from careledger.contracts.values import decode_value
from careledger.errors import ContractError, InvalidInput
from careledger.identity.msp import Role

NAMESPACE = "status_lists"
MAX_CREDENTIAL_BYTES = 128 * 1024
MAX_LIST_ENTRIES = 1_048_576

_Url = Annotated[
    str,
    msgspec.Meta(
        max_length=200, pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/[A-Za-z0-9._~/-]*$"
    ),
]
_UrlRef = Annotated[
    str, msgspec.Meta(max_length=220, pattern=r"^https://[A-Za-z0-9.:/_~-]+#[A-Za-z0-9_-]+$")
]
_Did = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$")]
_DidUrl = Annotated[
    str, msgspec.Meta(max_length=300, pattern=r"^did:[a-z0-9]+:[A-Za-z0-9._:%#-]+$")
]
_DateTime = Annotated[
    str,
    msgspec.Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$"),
]
_Context = Annotated[str, msgspec.Meta(max_length=120, pattern=r"^https://[A-Za-z0-9./_-]+$")]
_Token = Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9-]*$")]
_Multibase = Annotated[str, msgspec.Meta(max_length=400, pattern=r"^z[1-9A-HJ-NP-Za-km-z]+$")]
_EncodedList = Annotated[
    str, msgspec.Meta(max_length=MAX_CREDENTIAL_BYTES, pattern=r"^u[A-Za-z0-9_-]+$")
]


class _Proof(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    type: Literal["DataIntegrityProof", "Ed25519Signature2020"]
    verification_method: _DidUrl
    proof_purpose: Literal["assertionMethod"]
    proof_value: _Multibase
    cryptosuite: _Token | None = None
    created: _DateTime | None = None
    context: list[_Context] | None = msgspec.field(name="@context", default=None)


class _ListSubject(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    id: _UrlRef
    type: Literal["BitstringStatusList"]
    status_purpose: Literal["revocation", "suspension"]
    encoded_list: _EncodedList
    ttl: int | None = None


class StatusListDocument(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """The accepted shape of a published BitstringStatusListCredential."""

    context: list[_Context] = msgspec.field(name="@context")
    id: _Url = ""
    type: list[_Token] = msgspec.field(default_factory=list)
    issuer: _Did = ""
    credential_subject: _ListSubject | None = None
    proof: _Proof | None = None
    valid_from: _DateTime | None = None
    valid_until: _DateTime | None = None


class PublishedStatusList(msgspec.Struct, frozen=True):
    url: str
    issuer: str
    org: str
    purpose: str
    size: int
    credential: bytes
    digest: bytes
    sequence: int
    published_at: int


class PublishedStatusToken(msgspec.Struct, frozen=True):
    """A status list token; its URI is in the token (a digest here: state holds no URLs with
    port numbers, which the PHI guard would take for digit runs)."""

    org: str
    name: str
    issuer: str
    bits: int
    size: int
    token: bytes
    uri_digest: bytes
    sequence: int
    published_at: int


def _key(url: str) -> str:
    return "list/" + hashlib.sha256(url.encode()).hexdigest()[:40]


def published_bit(stub: Stub, url: str, index: int, purpose: str) -> bool | None:
    """For another contract: the status bit at ``index`` of the ``purpose`` list published at
    ``url`` (read across namespaces), or None when no such list is published. An index outside
    the list reads as set: it cannot be shown valid."""
    raw = stub.read_namespace(NAMESPACE, _key(url))
    if raw is None:
        return None
    published: PublishedStatusList = decode_value(raw, PublishedStatusList)
    if published.url != url or published.purpose != purpose:
        return None
    _doc, bits = parse_status_list_credential(published.credential)
    if index >= len(bits) * 8:
        return True
    return bool(bits[index >> 3] & (0x80 >> (index & 7)))


def _decode_bits(encoded: str) -> bytes:
    """The bitstring of an ``encodedList``, inflating at most :data:`MAX_LIST_ENTRIES` bits."""
    body = encoded[1:]
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj(wbits=31)
        bits = inflater.decompress(packed, MAX_LIST_ENTRIES // 8)
    except (binascii.Error, ValueError, zlib.error) as exc:
        raise InvalidInput(f"encodedList does not decode: {exc}") from exc
    if inflater.unconsumed_tail or not inflater.eof:
        raise InvalidInput(
            f"encodedList is truncated or holds more than {MAX_LIST_ENTRIES} entries"
        )
    if not bits:
        raise InvalidInput("encodedList is empty")
    return bits


def parse_status_list_credential(data: bytes) -> tuple[StatusListDocument, bytes]:
    """The document and its decoded bits; :class:`InvalidInput` naming what is wrong."""
    if len(data) > MAX_CREDENTIAL_BYTES:
        raise InvalidInput(
            f"status list credential of {len(data)} bytes exceeds {MAX_CREDENTIAL_BYTES}"
        )
    try:
        doc = msgspec.json.decode(data, type=StatusListDocument)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"not an acceptable BitstringStatusListCredential: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"status list credential is not JSON: {exc}") from exc
    if not doc.id or not doc.issuer or doc.credential_subject is None or doc.proof is None:
        raise InvalidInput("a status list credential needs id, issuer, credentialSubject and proof")
    if "BitstringStatusListCredential" not in doc.type:
        raise InvalidInput("type must include BitstringStatusListCredential")
    if doc.proof.verification_method.split("#", 1)[0] != doc.issuer:
        raise InvalidInput("the proof's key is not the issuer's")
    return doc, _decode_bits(doc.credential_subject.encoded_list)


def _clears_a_bit(old: bytes, new: bytes) -> bool:
    if len(old) != len(new):
        return True
    return int.from_bytes(old, "big") & ~int.from_bytes(new, "big") != 0


class StatusLists(Contract):
    name = NAMESPACE
    version = "1.0"
    schemas = {"list": PublishedStatusList, "token": PublishedStatusToken}

    @invoke
    def publish(self, stub: Stub, credential: bytes) -> dict[str, Any]:
        """Publish or update the status list credential ``credential`` (JSON bytes)."""
        if stub.creator.role != Role.ADMIN:
            raise ContractError("only an organisation admin may publish status lists")
        org = stub.creator.org
        doc, bits = parse_status_list_credential(credential)
        subject = doc.credential_subject
        if subject is None:  # pragma: no cover - parse_status_list_credential refuses it
            raise InvalidInput("status list credential has no credentialSubject")
        size = len(bits) * 8
        raw = stub.read_namespace(TRUST_NAMESPACE, f"issuer/{doc.issuer}")
        binding: IssuerBinding | None = None if raw is None else decode_value(raw, IssuerBinding)
        if binding is None or binding.org != org:
            raise ContractError(
                f"{doc.issuer} is not bound to {org} in the trust registry; "
                "an organisation publishes status lists only for its own issuers"
            )
        key = _key(doc.id)
        current: PublishedStatusList | None = stub.get(key)
        purpose = subject.status_purpose
        if current is not None:
            if (current.org, current.issuer, current.purpose) != (org, doc.issuer, purpose):
                raise ContractError(
                    f"{doc.id} belongs to {current.org} (issuer {current.issuer}, "
                    f"{current.purpose}); an update cannot change them"
                )
            if current.size != size:
                raise ContractError(
                    f"{doc.id} has {current.size} entries; an update cannot resize it"
                )
            if purpose == "revocation":
                _old, old_bits = parse_status_list_credential(current.credential)
                if _clears_a_bit(old_bits, bits):
                    raise ContractError(
                        "revocation is final: an update cannot clear a revoked entry"
                    )
        sequence = 1 if current is None else current.sequence + 1
        digest = hashlib.sha256(credential).digest()
        stub.put(
            key,
            PublishedStatusList(
                doc.id, doc.issuer, org, purpose, size, credential, digest, sequence, stub.timestamp
            ),
        )
        stub.emit("status_list.published", {"url": doc.id, "sequence": sequence})
        return {"url": doc.id, "sequence": sequence, "digest": digest.hex()}

    @query
    def get(self, stub: Stub, url: str) -> bytes | None:
        """The credential (or status list token) bytes published at ``url``, or None."""
        found: PublishedStatusList | None = stub.get(_key(url))
        if found is not None and found.url == url:
            return found.credential
        located = TOKEN_URI.match(url)
        if located is None:
            return None
        token: PublishedStatusToken | None = stub.get(
            f"token/{located.group(1)}/{located.group(2)}"
        )
        digest = hashlib.sha256(url.encode()).digest()
        return None if token is None or token.uri_digest != digest else token.token

    @invoke
    def publish_token(self, stub: Stub, token: bytes) -> dict[str, Any]:
        """Publish or update a status list token (compact JWS bytes) of this organisation."""
        if stub.creator.role != Role.ADMIN:
            raise ContractError("only an organisation admin may publish status lists")
        org = stub.creator.org
        parsed = parse_status_list_token(token)
        if parsed.org != org:
            raise ContractError(
                f"the token's URI names organisation {parsed.org}; {org} publishes only under "
                f"/status-lists/{org}/"
            )
        raw = stub.read_namespace(TRUST_NAMESPACE, f"issuer/{parsed.issuer}")
        binding: IssuerBinding | None = None if raw is None else decode_value(raw, IssuerBinding)
        if binding is None or binding.org != org:
            raise ContractError(
                f"{parsed.issuer} is not bound to {org} in the trust registry; "
                "an organisation publishes status lists only for its own issuers"
            )
        key = f"token/{org}/{parsed.name}"
        size = len(parsed.statuses) * 8 // parsed.bits
        uri_digest = hashlib.sha256(parsed.uri.encode()).digest()
        current: PublishedStatusToken | None = stub.get(key)
        if current is not None:
            if (current.issuer, current.uri_digest) != (parsed.issuer, uri_digest):
                raise ContractError(f"{key} has another issuer or URI; an update keeps both")
            if (current.bits, current.size) != (parsed.bits, size):
                raise ContractError(
                    f"{key} has {current.size} entries of {current.bits} bit(s); "
                    "an update cannot change them"
                )
            old = parse_status_list_token(current.token).statuses
            if clears_a_revocation(old, parsed.statuses, parsed.bits):
                raise ContractError("revocation is final: an update cannot clear a revoked entry")
        sequence = 1 if current is None else current.sequence + 1
        digest = hashlib.sha256(token).digest()
        stub.put(
            key,
            PublishedStatusToken(
                org,
                parsed.name,
                parsed.issuer,
                parsed.bits,
                size,
                token,
                uri_digest,
                sequence,
                stub.timestamp,
            ),
        )
        stub.emit("status_list.token_published", {"name": parsed.name, "sequence": sequence})
        return {"org": org, "name": parsed.name, "sequence": sequence, "digest": digest.hex()}

    @query
    def token(self, stub: Stub, org: str, name: str) -> bytes | None:
        """The status list token ``org`` published as ``name`` (what nodes serve), or None."""
        found: PublishedStatusToken | None = stub.get(f"token/{org}/{name}")
        return None if found is None else found.token

    @query
    def info(self, stub: Stub, url: str) -> dict[str, Any] | None:
        """Who published the list at ``url``, its purpose, size, sequence and digest."""
        found: PublishedStatusList | None = stub.get(_key(url))
        if found is None or found.url != url:
            return None
        return {
            "url": found.url,
            "issuer": found.issuer,
            "org": found.org,
            "purpose": found.purpose,
            "size": found.size,
            "sequence": found.sequence,
            "digest": found.digest.hex(),
            "published_at": found.published_at,
        }
