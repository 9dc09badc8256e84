"""Bitstring Status List encoding, as the W3C spec defines it."""

from __future__ import annotations

import pytest

from careledger.credentials import (
    CredentialFormatError,
    StatusList,
    StatusListIssuer,
    StatusPurpose,
)

# The spec's example encodedList: a 131,072-entry list with every bit clear.
SPEC_EMPTY = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"


def test_spec_example_decodes() -> None:
    decoded = StatusList.decode(SPEC_EMPTY)
    assert decoded.size == 131_072
    assert not any(decoded.get(i) for i in range(0, 131_072, 997))


def test_bit_order_and_round_trip() -> None:
    lst = StatusList(16)
    lst.set(0, True)
    lst.set(9, True)
    again = StatusList.decode(lst.encode())
    assert [again.get(i) for i in range(16)] == [i in (0, 9) for i in range(16)]
    assert bytes(again._bits) == b"\x80\x40"  # index 0 is the left-most bit


def test_bad_lists_rejected() -> None:
    with pytest.raises(CredentialFormatError):
        StatusList.decode("zNotBase64url")
    with pytest.raises(CredentialFormatError):
        StatusList.decode("uAAAA")
    with pytest.raises(CredentialFormatError):
        StatusList(16).get(16)


def test_revocation_is_final_and_indexes_unique() -> None:
    issuer = StatusListIssuer("https://x/status/1", "did:key:z", StatusPurpose.REVOCATION, size=64)
    indexes = {int(issuer.allocate()["statusListIndex"]) for _ in range(64)}
    assert len(indexes) == 64
    with pytest.raises(CredentialFormatError, match="full"):
        issuer.allocate()
    issuer.set_status(3, True)
    with pytest.raises(CredentialFormatError, match="cannot be undone"):
        issuer.set_status(3, False)
    cred = issuer.credential()
    assert cred["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert cred["credentialSubject"]["encodedList"].startswith("u")
