"""Signed read requests: how a consortium member proves who is asking.

Submit, evaluate and endorse carry a signed proposal and need nothing else. Every other route
except ``/v1/health`` needs three headers:

* ``X-CareLedger-Identity``: the member's identity bytes (signed certificate), base64url;
* ``X-CareLedger-Timestamp``: milliseconds since the Unix epoch, decimal;
* ``X-CareLedger-Signature``: base64url Ed25519 signature, by the member's key, of
  :func:`signing_message` — method, raw path with query, timestamp and the SHA-256 of the body.

A request is accepted when the identity is a current member (checked against the membership in
force at the node's height), the signature verifies, and the timestamp is within
:data:`MAX_SKEW_MS` of the node's clock. Reads are idempotent, so a replay inside that window
reveals nothing its signer could not read; there is no nonce.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping

from careledger.api.codec import b64d, b64e
from careledger.api.errors import NotAuthenticated
from careledger.crypto.keys import verify
from careledger.errors import InvalidInput, MembershipError
from careledger.identity.msp import LocalIdentity, MemberCert, Membership

IDENTITY_HEADER = "X-CareLedger-Identity"
TIMESTAMP_HEADER = "X-CareLedger-Timestamp"
SIGNATURE_HEADER = "X-CareLedger-Signature"
MAX_SKEW_MS = 5 * 60 * 1000
_MAX_IDENTITY_BYTES = 4096


def signing_message(method: str, target: str, timestamp: int, body: bytes) -> bytes:
    """What a member signs: ``careledger-request-v1``, method, target, timestamp, body hash.

    ``target`` is the percent-encoded path plus ``?query`` when there is one, exactly as sent.
    """
    lines = (
        "careledger-request-v1",
        method.upper(),
        target,
        str(timestamp),
        hashlib.sha256(body).hexdigest(),
    )
    return "\n".join(lines).encode()


def sign_request(
    identity: LocalIdentity,
    method: str,
    target: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The three authentication headers for one request."""
    ts = int(time.time() * 1000) if timestamp is None else timestamp
    return {
        IDENTITY_HEADER: b64e(identity.identity),
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: b64e(identity.sign(signing_message(method, target, ts, body))),
    }


def check_request(
    membership: Membership,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now_ms: int | None = None,
) -> MemberCert:
    """The requesting member's certificate; raises NotAuthenticated for anything else."""
    identity_text = headers.get(IDENTITY_HEADER.lower()) or headers.get(IDENTITY_HEADER)
    ts_text = headers.get(TIMESTAMP_HEADER.lower()) or headers.get(TIMESTAMP_HEADER)
    sig_text = headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER)
    if not identity_text or not ts_text or not sig_text:
        raise NotAuthenticated(
            f"a signed request needs {IDENTITY_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}"
        )
    try:
        identity = b64d(identity_text, IDENTITY_HEADER, _MAX_IDENTITY_BYTES)
        signature = b64d(sig_text, SIGNATURE_HEADER, 64)
        if not ts_text.isascii() or not ts_text.isdigit() or len(ts_text) > 16:
            raise InvalidInput(f"{TIMESTAMP_HEADER}: milliseconds since the epoch, decimal")
    except InvalidInput as exc:
        raise NotAuthenticated(str(exc)) from exc
    timestamp = int(ts_text)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now - timestamp) > MAX_SKEW_MS:
        raise NotAuthenticated(
            f"request timestamp is {abs(now - timestamp) // 1000} s from the node's clock "
            f"(at most {MAX_SKEW_MS // 1000} s allowed)"
        )
    try:
        cert = membership.validate(identity)
    except MembershipError as exc:
        raise NotAuthenticated(f"not a consortium member: {exc}") from exc
    if not verify(cert.public_key, signing_message(method, target, timestamp, body), signature):
        raise NotAuthenticated("the request signature does not verify with the member's key")
    return cert
