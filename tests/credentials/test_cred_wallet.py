"""The holder wallet: encrypted at rest, and answers a request with only the claims asked for."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from careledger.credentials import (
    INSURANCE_COVERAGE,
    PresentationRequest,
    Wallet,
    WalletError,
    issue_credential,
    issue_sd_jwt_vc,
)
from careledger.credentials.sd_jwt import SdJwt, holder_jwk

if TYPE_CHECKING:
    from conftest import World  # fixture type (tests/credentials/conftest.py)

FAST_N = 2**12  # tests only; the default is 2**17


def test_wallet_round_trip_encrypted(tmp_path: Path, world: World) -> None:
    path = tmp_path / "patient.wallet"
    wallet = Wallet.create(path, "correct horse battery", scrypt_n=FAST_N)
    key = wallet.new_key("main")
    token = issue_sd_jwt_vc(
        INSURANCE_COVERAGE, world.payer, world.vm, world.claims, holder_jwk(key)
    )
    wallet.add_sd_jwt(token)
    wallet.add_vc(
        issue_credential(INSURANCE_COVERAGE, world.payer, world.vm, key.did_key, world.claims)
    )
    wallet.save()
    raw = path.read_bytes()
    assert b"M-1002003" not in raw
    assert token.split(".")[0].encode() not in raw
    assert (path.stat().st_mode & 0o777) == 0o600
    reopened = Wallet.open(path, "correct horse battery")
    assert reopened.key("main").public_key == key.public_key
    assert sorted(c.format for c in reopened.credentials()) == ["ldp_vc", "sd-jwt"]
    with pytest.raises(WalletError, match="wrong passphrase"):
        Wallet.open(path, "wrong horse battery")


def test_tampered_wallet_file(tmp_path: Path) -> None:
    path = tmp_path / "w"
    Wallet.create(path, "passphrase-1", scrypt_n=FAST_N)
    text = path.read_text().replace('"n": 4096', '"n": 8192')
    path.write_text(text)
    with pytest.raises(WalletError):
        Wallet.open(path, "passphrase-1")


def test_wallet_presents_only_requested_claims(tmp_path: Path, world: World) -> None:
    wallet = Wallet.create(tmp_path / "w", "passphrase-1", scrypt_n=FAST_N)
    key = wallet.new_key("main")
    wallet.add_sd_jwt(
        issue_sd_jwt_vc(INSURANCE_COVERAGE, world.payer, world.vm, world.claims, holder_jwk(key))
    )
    request = PresentationRequest.new(INSURANCE_COVERAGE.vct, ["memberId"], "did:web:clinic")
    wire = PresentationRequest.from_json(request.to_json())
    presentation = wallet.present(wire)
    assert len(SdJwt.parse(presentation).disclosures) == 1
    result = world.verifier.verify_sd_jwt(presentation, request)
    assert result.ok, result.reasons
    assert result.claims["memberId"] == "M-1002003"
    assert "planName" not in result.claims


def test_wallet_without_matching_credential(tmp_path: Path) -> None:
    wallet = Wallet.create(tmp_path / "w", "passphrase-1", scrypt_n=FAST_N)
    request = PresentationRequest.new(INSURANCE_COVERAGE.vct, ["memberId"], "did:web:clinic")
    with pytest.raises(WalletError, match=r"no https://careledger\.dev"):
        wallet.present(request)
