"""Envelope encryption of resource versions, for crypto-shredding.

Three layers, all from ``cryptography`` (no hand-written crypto)::

    organisation master key (32 bytes, from config / CARELEDGER_FHIR_MASTER_KEY)
      └─ wraps, AES-256-GCM with the patient reference as associated data:
         per-patient key (32 random bytes, one per patient; "" for resources without one)
           └─ wraps, AES key wrap (RFC 3394):
              per-version data key (32 random bytes, new for every stored version)
                └─ encrypts, AES-256-GCM with "Type/id/version" as associated data:
                   the resource JSON

Destroying a patient's wrapped key makes every version of that patient's data undecryptable
even with the master key. The associated data binds a ciphertext to its slot, so rows cannot be
swapped between resources or patients unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from careledger.errors import CryptoError

MASTER_KEY_ENV = "CARELEDGER_FHIR_MASTER_KEY"
KEY_BYTES = 32
NONCE_BYTES = 12
_PATIENT_KEY_AAD = b"careledger-fhir-patient-key\x00"


class MasterKey:
    """The organisation's key-encryption key for patient keys. Keep it out of the database."""

    __slots__ = ("_aead", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise CryptoError("the FHIR master key must be 32 bytes")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"careledger-fhir-master\x00" + key).hexdigest()[:16]

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(AESGCM.generate_key(bit_length=256))

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        """From base64url (padding optional), as stored in config or the environment."""
        try:
            raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
        except ValueError as exc:
            raise CryptoError("the FHIR master key is not base64url") from exc
        return cls(raw)

    @classmethod
    def from_env(cls, name: str = MASTER_KEY_ENV) -> MasterKey:
        text = os.environ.get(name)
        if not text:
            raise CryptoError(f"{name} is not set")
        return cls.from_text(text)

    def wrap_patient_key(self, patient: str, key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, key, _PATIENT_KEY_AAD + patient.encode())

    def unwrap_patient_key(self, patient: str, blob: bytes) -> bytes:
        try:
            return self._aead.decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], _PATIENT_KEY_AAD + patient.encode()
            )
        except InvalidTag as exc:
            raise CryptoError(
                f"the key of {patient!r} does not unwrap (wrong master key?)"
            ) from exc


def new_patient_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


@dataclass(frozen=True, slots=True)
class Sealed:
    """One encrypted resource version: its wrapped data key, nonce and ciphertext (with tag)."""

    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes


def seal(patient_key: bytes, plaintext: bytes, slot: bytes) -> Sealed:
    """Encrypt ``plaintext`` under a fresh data key, wrapped by ``patient_key``."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, slot)
    return Sealed(aes_key_wrap(patient_key, data_key), nonce, ciphertext)


def unseal(patient_key: bytes, sealed: Sealed, slot: bytes) -> bytes:
    """Decrypt; raises :class:`CryptoError` if the key or the slot is wrong or data changed."""
    try:
        data_key = aes_key_unwrap(patient_key, sealed.wrapped_key)
        return AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, slot)
    except (InvalidUnwrap, InvalidTag) as exc:
        raise CryptoError(f"cannot decrypt {slot.decode(errors='replace')}") from exc


def slot_of(resource_type: str, resource_id: str, version: int) -> bytes:
    return f"{resource_type}/{resource_id}/{version}".encode()
