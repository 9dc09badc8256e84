"""Ed25519 keys: signatures verify for the signed bytes and key only; batches keep their order."""

from __future__ import annotations

import pytest

from careledger.crypto.keys import (
    BatchVerifier,
    SignatureCheck,
    SignatureMemo,
    SigningKey,
    VerifyKey,
    verify,
)
from careledger.errors import CryptoError

# RFC 8032 §7.1, test 2: one-byte message 0x72.
RFC_SEED = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
RFC_PUBLIC = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
RFC_SIGNATURE = bytes.fromhex(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
)


def test_rfc8032_vector() -> None:
    key = SigningKey(RFC_SEED)
    assert key.public.raw == RFC_PUBLIC
    assert key.sign(b"\x72") == RFC_SIGNATURE
    assert verify(RFC_PUBLIC, b"\x72", RFC_SIGNATURE)


def test_a_signature_verifies_only_for_its_message_and_key() -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    signature = key.sign(b"block header")
    assert key.public.verify(b"block header", signature)
    assert not key.public.verify(b"block headex", signature)
    assert not other.public.verify(b"block header", signature)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not key.public.verify(b"block header", flipped)


@pytest.mark.parametrize(
    ("public", "signature"),
    [(bytes(31), bytes(64)), (bytes(32), bytes(63)), (bytes(32), b""), (b"", bytes(64))],
)
def test_verify_returns_false_for_wrong_sizes_instead_of_raising(
    public: bytes, signature: bytes
) -> None:
    assert verify(public, b"m", signature) is False


def test_seed_round_trips_and_keys_refuse_wrong_sizes() -> None:
    key = SigningKey.generate()
    again = SigningKey(key.seed())
    assert again.public == key.public
    assert again.sign(b"x") == key.sign(b"x")  # Ed25519 is deterministic
    assert key.seed().hex() not in repr(key)
    with pytest.raises(CryptoError):
        SigningKey(bytes(31))
    with pytest.raises(CryptoError):
        VerifyKey(bytes(33))


@pytest.mark.parametrize("workers", [1, 3])
def test_batch_results_are_in_the_order_of_the_checks(workers: int) -> None:
    keys = [SigningKey.generate() for _ in range(4)]
    checks = []
    expected = []
    for i in range(150):
        key = keys[i % 4]
        message = f"tx {i}".encode()
        signature = key.sign(message)
        good = i % 7 != 3
        if not good:
            signature = keys[(i + 1) % 4].sign(message)  # signed by the wrong key
        checks.append(SignatureCheck(key.public.raw, message, signature))
        expected.append(good)
    verifier = BatchVerifier(workers=workers)
    try:
        assert verifier.verify(checks) == expected
        assert verifier.verify(checks[:5]) == expected[:5]
        assert verifier.verify([]) == []
    finally:
        verifier.close()


def test_a_memo_answers_only_for_the_very_same_key_message_and_signature() -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    message = b"endorsed response"
    signature = key.sign(message)
    memo = SignatureMemo()
    memo.add(key.public.raw, message, signature)
    forged = bytes([signature[0] ^ 1]) + signature[1:]
    checks = [
        SignatureCheck(key.public.raw, message, signature),  # remembered
        SignatureCheck(key.public.raw, message + b"!", signature),  # other bytes
        SignatureCheck(other.public.raw, message, signature),  # other key
        SignatureCheck(key.public.raw, message, forged),  # other signature
        SignatureCheck(other.public.raw, b"m", other.sign(b"m")),  # not remembered, but good
    ]
    verifier = BatchVerifier(workers=1)
    try:
        assert memo.verify(verifier, checks) == [True, False, False, False, True]
        assert memo.hits == 1
        assert verifier.checked == 4  # only the remembered one was skipped
    finally:
        verifier.close()


def test_a_memo_forgets_its_oldest_entries_beyond_capacity() -> None:
    key = SigningKey.generate()
    signed = [(bytes([i]), key.sign(bytes([i]))) for i in range(5)]
    memo = SignatureMemo(capacity=3)
    for message, signature in signed:
        memo.add(key.public.raw, message, signature)
    verifier = BatchVerifier(workers=1)
    try:
        checks = [SignatureCheck(key.public.raw, m, s) for m, s in signed]
        assert memo.verify(verifier, checks) == [True] * 5
        assert memo.hits == 3  # the two oldest were verified again
    finally:
        verifier.close()
