"""The member's side: per-campaign keys and pseudonyms derived from one wallet secret.

A member holds one 32-byte secret. For each campaign the wallet derives an Ed25519 key
(HMAC-SHA256 of the secret and the campaign id, as the seed); the chain sees only the
pseudonym — the SHA-256 of that key's public half (:func:`careledger.contracts.incentives.
pseudonym_of`). Two campaigns get two unrelated keys, so ledger data cannot link one member's
accounts; only the wallet can. The same key signs the member's redemptions, so nobody else can
spend the points, and the member's credential key signs a holder proof binding the evidence to
this campaign key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from careledger.contracts.incentives import pseudonym_of, redeem_payload
from careledger.crypto import encoding
from careledger.crypto.keys import SigningKey
from careledger.errors import InvalidInput
from careledger.identity.did.keys import Ed25519Signer

KEY_DOMAIN = b"careledger/incentives/member-key/v1\x00"
HOLDER_DOMAIN = "careledger/incentives/holder/v1"


def holder_payload(campaign: str, rule: str, member_key: str) -> bytes:
    """What the evidence's subject signs: "reward this evidence to this campaign key"."""
    return encoding.encode(
        {"domain": HOLDER_DOMAIN, "campaign": campaign, "rule": rule, "member_key": member_key}
    )


@dataclass(frozen=True, slots=True)
class HolderProof:
    """A signature by a key of the evidence's subject over :func:`holder_payload`."""

    verification_method: str
    signature: bytes


class MemberWallet:
    """One member's incentive keys (the secret never leaves the wallet)."""

    def __init__(self, secret: bytes | None = None) -> None:
        secret = os.urandom(32) if secret is None else secret
        if not isinstance(secret, bytes) or len(secret) != 32:
            raise InvalidInput("a member wallet secret is 32 bytes")
        self._secret = secret

    @property
    def secret(self) -> bytes:
        return self._secret

    def campaign_key(self, campaign: str) -> SigningKey:
        seed = hmac.new(self._secret, KEY_DOMAIN + campaign.encode(), hashlib.sha256).digest()
        return SigningKey(seed)

    def member_key(self, campaign: str) -> str:
        """The per-campaign public key (hex) the sponsor's award names."""
        return self.campaign_key(campaign).public.raw.hex()

    def pseudonym(self, campaign: str) -> str:
        """How this member appears on chain in ``campaign``."""
        return pseudonym_of(self.campaign_key(campaign).public.raw)

    def sign_redemption(self, campaign: str, item: str, quantity: int, sequence: int) -> bytes:
        """Authorise burning points for ``quantity`` of ``item`` (``sequence``: the account's
        ``redemptions`` so far)."""
        payload = redeem_payload(campaign, self.pseudonym(campaign), item, quantity, sequence)
        return self.campaign_key(campaign).sign(payload)

    def holder_proof(
        self,
        subject: Ed25519Signer,
        campaign: str,
        rule: str,
        verification_method: str | None = None,
    ) -> HolderProof:
        """The evidence subject's consent that ``campaign``'s reward goes to this wallet, signed
        with ``subject`` as ``verification_method`` (default: its did:key)."""
        payload = holder_payload(campaign, rule, self.member_key(campaign))
        method = verification_method or subject.did_key_verification_method
        return HolderProof(method, subject.sign(payload))
