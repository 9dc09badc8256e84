"""``careledger wallet`` and ``careledger bench credentials`` as a user runs them (CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from careledger.cli.bench import bench_credentials
from careledger.cli.wallet import PASSPHRASE_ENV, wallet
from careledger.credentials import (
    INSURANCE_COVERAGE,
    InMemoryStatusListSource,
    InMemoryTrustRegistry,
    PresentationRequest,
    Verifier,
    issue_sd_jwt_vc,
)
from careledger.identity.did import DidKeyMethod, DidResolver, Ed25519Signer, PublicKey
from careledger.identity.did.jwk import jwk_from_public_key

PASSPHRASE = "correct horse battery"
CLAIMS = {
    "memberId": "M-1002003",
    "planId": "GOLD-PPO",
    "planName": "Gold PPO",
    "payerName": "Example Health Plan",
    "coverageStart": "2025-01-01",
}


def run(path: Path, *args: str, passphrase: str | None = PASSPHRASE) -> Result:
    env = {PASSPHRASE_ENV: passphrase} if passphrase is not None else {PASSPHRASE_ENV: ""}
    return CliRunner().invoke(wallet, ["--wallet", str(path), *args], env=env)


def test_wallet_round_trip_discloses_only_requested_claims(tmp_path: Path) -> None:
    path = tmp_path / "wallet.json"
    created = run(path, "create")
    assert created.exit_code == 0, created.output
    assert "holder DID: did:key:z6Mk" in created.output
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    holder_did = run(path, "did").output.strip()
    assert holder_did.startswith("did:key:z6Mk")
    assert run(path, "did", "--method", "careledger").output.startswith("did:careledger:")
    holder = PublicKey.from_multikey(holder_did.removeprefix("did:key:"))

    payer = Ed25519Signer()
    token = issue_sd_jwt_vc(
        INSURANCE_COVERAGE,
        payer,
        payer.did_key_verification_method,
        {**CLAIMS, "payerId": payer.did_key},
        jwk_from_public_key(holder),
    )
    (tmp_path / "coverage.sd-jwt").write_text(token)
    imported = run(path, "import", str(tmp_path / "coverage.sd-jwt"))
    assert imported.exit_code == 0, imported.output
    assert "InsuranceCoverageCredential" not in imported.output  # SD-JWT VCs are typed by vct
    assert INSURANCE_COVERAGE.vct in imported.output

    listed = json.loads(run(path, "list", "--json").output)
    assert [(c["format"], c["type"]) for c in listed] == [("sd-jwt", INSURANCE_COVERAGE.vct)]

    request = PresentationRequest.new(
        INSURANCE_COVERAGE.vct, ["memberId", "planId"], "did:web:clinic.example"
    )
    (tmp_path / "request.json").write_text(json.dumps(request.to_json()))
    out = tmp_path / "presentation.txt"
    presented = run(path, "present", "--request", str(tmp_path / "request.json"), "--out", str(out))
    assert presented.exit_code == 0, presented.output

    trust = InMemoryTrustRegistry()
    trust.trust(payer.did_key, INSURANCE_COVERAGE.vct)
    verifier = Verifier(DidResolver([DidKeyMethod()]), trust, InMemoryStatusListSource())
    result = verifier.verify_sd_jwt(out.read_text().strip(), request)
    assert result.ok, result.reasons
    assert {"memberId", "planId"} <= result.claims.keys()
    assert not {"planName", "payerName", "coverageStart"} & result.claims.keys()


def test_wallet_errors_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "wallet.json"
    missing = run(path, "list")
    assert missing.exit_code == 2
    assert "no wallet at" in missing.output
    assert run(path, "create").exit_code == 0
    again = run(path, "create")
    assert again.exit_code == 2
    assert "already exists" in again.output

    wrong = run(path, "list", passphrase="not the passphrase")
    assert wrong.exit_code == 2
    assert "wrong passphrase or damaged wallet" in wrong.output

    no_passphrase = run(path, "list", passphrase=None)  # no env value, no terminal input
    assert no_passphrase.exit_code == 2
    assert PASSPHRASE_ENV in no_passphrase.output

    junk = tmp_path / "junk.txt"
    junk.write_text("this is not a credential")
    bad = run(path, "import", str(junk))
    assert bad.exit_code == 2
    assert "is not a credential" in bad.output

    junk.write_text('{"claims": 1}')
    bad_request = run(path, "present", "--request", str(junk))
    assert bad_request.exit_code == 2
    assert "is not a presentation request" in bad_request.output

    request = PresentationRequest.new(INSURANCE_COVERAGE.vct, ["memberId"], "did:web:clinic")
    junk.write_text(json.dumps(request.to_json()))
    nothing = run(path, "present", "--request", str(junk))
    assert nothing.exit_code == 2
    assert "no https://careledger.dev/vct/insurance-coverage/v1 credential" in nothing.output

    damaged = tmp_path / "damaged.json"
    damaged.write_text("{")
    assert "cannot read wallet" in run(damaged, "list").output


def test_wallet_create_prompts_for_a_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "wallet.json"
    result = CliRunner().invoke(
        wallet,
        ["--wallet", str(path), "create"],
        input=f"{PASSPHRASE}\n{PASSPHRASE}\n",
        env={PASSPHRASE_ENV: ""},
    )
    assert result.exit_code == 0, result.output
    assert run(path, "did").exit_code == 0


@pytest.mark.parametrize("as_json", [True, False])
def test_bench_credentials_prints_figures(as_json: bool) -> None:
    args = ["--seconds", "0.02", *(["--json"] if as_json else [])]
    result = CliRunner().invoke(bench_credentials, args)
    assert result.exit_code == 0, result.output
    if as_json:
        figures = json.loads(result.output)
        assert figures["sd_jwt_presentation_verify_per_s"] > 0
        assert {"jcs_verify_per_s", "rdfc_verify_per_s", "sd_jwt_issue_per_s"} <= figures.keys()
    else:
        assert "SD-JWT presentation verify/s" in result.output
