"""The holder wallet's REST API: bearer token on every route, validated imports, minimal
presentations that careledger's verifier accepts; over httpx's ASGI transport, one real socket
and through ``careledger wallet serve``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.routing import APIRoute

from careledger.api.server import ApiServer
from careledger.api.wallet_app import (
    HOLDER_KEY,
    TOKEN_ENV,
    WalletApp,
    check_loopback,
    create_wallet_app,
    new_token,
)
from careledger.cli.wallet import PASSPHRASE_ENV, wallet
from careledger.credentials import (
    INSURANCE_COVERAGE,
    InMemoryStatusListSource,
    InMemoryTrustRegistry,
    PresentationRequest,
    Verifier,
    issue_credential,
    issue_sd_jwt_vc,
    sd_jwt,
)
from careledger.credentials.sd_jwt import SdJwt, holder_jwk
from careledger.credentials.wallet import Wallet
from careledger.errors import InvalidInput
from careledger.identity.did import DidKeyMethod, DidResolver, Ed25519Signer

API_DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
PASSPHRASE = "correct horse battery"
FAST_N = 2**12  # tests only; the default is 2**17
CLAIMS = {
    "memberId": "M-1002003",
    "planId": "GOLD-PPO",
    "planName": "Gold PPO",
    "payerName": "Example Health Plan",
    "coverageStart": "2025-01-01",
}
VCT = INSURANCE_COVERAGE.vct


@dataclass
class Setup:
    path: Path
    wallet: Wallet
    holder: Ed25519Signer
    payer: Ed25519Signer
    token: str
    app: WalletApp

    def sd_jwt(self, holder: Ed25519Signer | None = None) -> str:
        return issue_sd_jwt_vc(
            INSURANCE_COVERAGE,
            self.payer,
            self.payer.did_key_verification_method,
            {**CLAIMS, "payerId": self.payer.did_key},
            holder_jwk(holder or self.holder),
        )

    def vc(self) -> dict[str, Any]:
        return issue_credential(
            INSURANCE_COVERAGE,
            self.payer,
            self.payer.did_key_verification_method,
            self.holder.did_key,
            {**CLAIMS, "payerId": self.payer.did_key},
        )

    def verifier(self) -> Verifier:
        trust = InMemoryTrustRegistry()
        trust.trust(self.payer.did_key, VCT)
        return Verifier(DidResolver([DidKeyMethod()]), trust, InMemoryStatusListSource())


def new_wallet(path: Path) -> Wallet:
    created = Wallet.create(path, PASSPHRASE, scrypt_n=FAST_N)
    created.new_key(HOLDER_KEY)
    created.save()
    return created


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    path = tmp_path / "wallet.json"
    opened = new_wallet(path)
    token = new_token()
    app = create_wallet_app(opened, token, max_body_bytes=64 * 1024)
    return Setup(path, opened, opened.key(HOLDER_KEY), Ed25519Signer(), token, app)


Client = httpx.AsyncClient


def run(
    setup: Setup, body: Callable[[Client], Coroutine[Any, Any, None]], *, token: str | None = None
) -> None:
    async def main() -> None:
        headers = {"Authorization": f"Bearer {token or setup.token}"}
        transport = httpx.ASGITransport(app=setup.app)
        async with Client(transport=transport, base_url="http://wallet", headers=headers) as c:
            await body(c)

    asyncio.run(main())


def request_json(claims: list[str], credential_type: str = VCT) -> dict[str, Any]:
    return PresentationRequest.new(credential_type, claims, "did:web:clinic.example").to_json()


ROUTES = [
    ("GET", "/v1/wallet/did"),
    ("GET", "/v1/wallet/credentials"),
    ("GET", "/v1/wallet/credentials/x"),
    ("POST", "/v1/wallet/credentials"),
    ("POST", "/v1/wallet/presentations"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/no/such/route"),
]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-wrong-token", "Basic dXNlcjpwYXNz", "Bearer", "bearer "],
)
def test_every_route_needs_the_bearer_token(setup: Setup, authorization: str | None) -> None:
    async def main() -> None:
        headers = {} if authorization is None else {"Authorization": authorization}
        transport = httpx.ASGITransport(app=setup.app)
        async with Client(transport=transport, base_url="http://wallet", headers=headers) as c:
            for method, path in ROUTES:
                reply = await c.request(method, path, json={"credential": "x"})
                assert reply.status_code == 401, (method, path)
                assert reply.json()["type"] == "NotAuthenticated"
                assert reply.headers["WWW-Authenticate"].startswith("Bearer")
            # refused before the body is read: no 413 for an unauthenticated client
            big = await c.post("/v1/wallet/credentials", content=b"x" * (1024 * 1024))
            assert big.status_code == 401
        # the bare FastAPI application (without the WalletApp guard) is closed too
        transport = httpx.ASGITransport(app=setup.app.app)
        async with Client(transport=transport, base_url="http://wallet", headers=headers) as c:
            assert (await c.get("/v1/wallet/did")).status_code == 401

    asyncio.run(main())


def test_token_is_case_sensitive_and_scheme_is_not(setup: Setup) -> None:
    async def body(c: Client) -> None:
        ok = await c.get("/v1/wallet/did", headers={"Authorization": f"bearer {setup.token}"})
        assert ok.status_code == 200
        bad = await c.get(
            "/v1/wallet/did", headers={"Authorization": f"Bearer {setup.token.swapcase()}"}
        )
        assert bad.status_code == 401

    run(setup, body)


def test_import_list_and_present_disclosing_only_requested_claims(setup: Setup) -> None:
    token = setup.sd_jwt()
    vc = setup.vc()

    async def body(c: Client) -> None:
        did = (await c.get("/v1/wallet/did")).json()
        assert did["did"] == setup.holder.did_key
        assert did["did_careledger"].startswith("did:careledger:")

        imported = await c.post("/v1/wallet/credentials", json={"credential": token})
        assert imported.status_code == 201, imported.text
        assert imported.json()["format"] == "sd-jwt"
        assert imported.json()["type"] == VCT
        again = await c.post("/v1/wallet/credentials", json={"credential": token + "\n"})
        assert again.status_code == 200
        assert again.json()["id"] == imported.json()["id"]

        stored_vc = await c.post("/v1/wallet/credentials", json={"credential": vc})
        assert stored_vc.status_code == 201, stored_vc.text
        assert stored_vc.json() == {
            "id": vc["id"],
            "format": "ldp_vc",
            "type": "InsuranceCoverageCredential",
        }
        assert (await c.post("/v1/wallet/credentials", json={"credential": vc})).status_code == 200
        changed = {**vc, "validUntil": "2099-01-01T00:00:00Z"}
        clash = await c.post("/v1/wallet/credentials", json={"credential": changed})
        assert clash.status_code == 400

        listed = await c.get("/v1/wallet/credentials")
        assert listed.status_code == 200
        assert sorted(x["format"] for x in listed.json()["credentials"]) == ["ldp_vc", "sd-jwt"]
        assert "M-1002003" not in listed.text  # no claims in the listing

        one = await c.get(f"/v1/wallet/credentials/{imported.json()['id']}")
        assert one.status_code == 200
        assert one.json()["claims"]["memberId"] == "M-1002003"
        missing = await c.get("/v1/wallet/credentials/no-such-id")
        assert missing.status_code == 404
        assert missing.json()["type"] == "NotFound"

        wire = request_json(["memberId", "planId"])
        presented = await c.post("/v1/wallet/presentations", json=wire)
        assert presented.status_code == 200, presented.text
        out = presented.json()
        assert out["disclosed"] == ["memberId", "planId"]
        assert len(SdJwt.parse(out["presentation"]).disclosures) == 2
        request = PresentationRequest.from_json(wire)
        result = setup.verifier().verify_sd_jwt(out["presentation"], request)
        assert result.ok, result.reasons
        assert result.claims["memberId"] == "M-1002003"
        assert result.claims["planId"] == "GOLD-PPO"
        assert "planName" not in result.claims
        assert "payerName" not in result.claims

    run(setup, body)
    reopened = Wallet.open(setup.path, PASSPHRASE)  # imports were saved, encrypted
    assert sorted(c.format for c in reopened.credentials()) == ["ldp_vc", "sd-jwt"]
    assert b"M-1002003" not in setup.path.read_bytes()


def _bad_imports(setup: Setup) -> list[tuple[str, Any]]:
    token = setup.sd_jwt()
    vc = setup.vc()
    presentation = sd_jwt.present(token, ["memberId"], setup.holder, "did:web:x", "nonce-123456")
    no_proof = {k: v for k, v in vc.items() if k != "proof"}
    return [
        ("text", {"credential": "not a credential"}),
        ("empty", {"credential": ""}),
        ("garbage jwt", {"credential": "a.b.c~"}),
        ("other holder", {"credential": setup.sd_jwt(Ed25519Signer())}),
        ("presentation", {"credential": presentation}),
        ("vc without proof", {"credential": no_proof}),
        ("vc bad context", {"credential": {**vc, "@context": ["https://example.com"]}}),
        ("vc no type", {"credential": {**vc, "type": ["Thing"]}}),
        ("vc no subject", {"credential": {**vc, "credentialSubject": "x"}}),
        ("vc bad issuer", {"credential": {**vc, "issuer": 7}}),
        ("number", {"credential": 7}),
        ("list", {"credential": [vc]}),
        ("no field", {}),
        ("extra field", {"credential": token, "also": 1}),
        ("bare json", vc),
    ]


def test_bad_imports_are_400_and_store_nothing(setup: Setup) -> None:
    cases = _bad_imports(setup)
    before = setup.path.read_bytes()

    async def body(c: Client) -> None:
        for name, payload in cases:
            reply = await c.post("/v1/wallet/credentials", json=payload)
            assert reply.status_code == 400, (name, reply.text)
            assert reply.json()["type"] in ("InvalidInput", "CredentialFormatError"), name
            assert reply.json()["error"], name
        raw = await c.post(
            "/v1/wallet/credentials",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert raw.status_code == 400
        listed = await c.get("/v1/wallet/credentials")
        assert listed.json() == {"credentials": []}

    run(setup, body)
    assert setup.wallet.credentials() == []
    assert setup.path.read_bytes() == before  # never rewritten
    assert Wallet.open(setup.path, PASSPHRASE).credentials() == []


def test_presentation_errors(setup: Setup) -> None:
    async def body(c: Client) -> None:
        none = await c.post("/v1/wallet/presentations", json=request_json(["memberId"]))
        assert none.status_code == 404
        assert none.json()["type"] == "NotFound"
        assert VCT in none.json()["error"]

        stored = await c.post("/v1/wallet/credentials", json={"credential": setup.sd_jwt()})
        assert stored.status_code == 201
        other = await c.post(
            "/v1/wallet/presentations", json=request_json(["memberId"], "https://example.com/x")
        )
        assert other.status_code == 404
        absent = await c.post("/v1/wallet/presentations", json=request_json(["bloodType"]))
        assert absent.status_code == 404
        assert "bloodType" in absent.json()["error"]

        good = request_json(["memberId"])
        for broken in (
            {**good, "claims": []},
            {**good, "claims": "memberId"},
            {k: v for k, v in good.items() if k != "nonce"},
            {**good, "iat": "yesterday"},
            {**good, "unexpected": True},
        ):
            reply = await c.post("/v1/wallet/presentations", json=broken)
            assert reply.status_code == 400, (broken, reply.text)
            assert reply.json()["type"] == "InvalidInput"

    run(setup, body)


def test_body_limit(setup: Setup) -> None:
    async def body(c: Client) -> None:
        big = {"credential": "x" * (128 * 1024)}
        reply = await c.post("/v1/wallet/credentials", json=big)
        assert reply.status_code == 413
        assert reply.json()["type"] == "PayloadTooLarge"

    run(setup, body)
    assert setup.wallet.credentials() == []


def test_every_wallet_route_is_in_openapi_and_in_docs_api(setup: Setup) -> None:
    inner = setup.app.app
    assert isinstance(inner, FastAPI)
    routes = [r for r in inner.routes if isinstance(r, APIRoute)]
    assert len(routes) == 5

    async def body(c: Client) -> None:
        spec = (await c.get("/openapi.json")).json()
        assert "HTTPBearer" in spec["components"]["securitySchemes"]
        for route in routes:
            for method in route.methods or ():
                assert method.lower() in spec["paths"][route.path], (method, route.path)
                assert f"`{method} {route.path}`" in API_DOC, (
                    f"{method} {route.path} is not documented in docs/api.md"
                )

    run(setup, body)


def test_served_on_a_real_socket(setup: Setup) -> None:
    async def main() -> None:
        server = ApiServer(setup.app, "127.0.0.1", 0)
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url) as c:
                assert (await c.get("/v1/wallet/did")).status_code == 401
                auth = {"Authorization": f"Bearer {setup.token}"}
                imported = await c.post(
                    "/v1/wallet/credentials", json={"credential": setup.sd_jwt()}, headers=auth
                )
                assert imported.status_code == 201
                wire = request_json(["memberId"])
                reply = await c.post("/v1/wallet/presentations", json=wire, headers=auth)
                assert reply.status_code == 200
        finally:
            await server.stop()
        result = setup.verifier().verify_sd_jwt(
            reply.json()["presentation"], PresentationRequest.from_json(wire)
        )
        assert result.ok, result.reasons
        assert set(result.claims) >= {"memberId"}
        assert "planId" not in result.claims

    asyncio.run(main())


def test_loopback_only() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert check_loopback(host) == host
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com", ""):
        with pytest.raises(InvalidInput, match="loopback"):
            check_loopback(host)


def test_cli_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "wallet.json"
    new_wallet(path)
    runs: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: runs.append((app, kw)))
    cli = CliRunner()

    printed = cli.invoke(
        wallet, ["serve", "--wallet", str(path), "--port", "7999"], env={PASSPHRASE_ENV: PASSPHRASE}
    )
    assert printed.exit_code == 0, printed.output
    token = printed.stdout.split("bearer token: ", 1)[1].strip()
    app, options = runs.pop()
    assert options["host"] == "127.0.0.1"
    assert options["port"] == 7999
    assert isinstance(app, WalletApp)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with Client(transport=transport, base_url="http://wallet") as c:
            assert (await c.get("/v1/wallet/credentials")).status_code == 401
            ok = await c.get("/v1/wallet/credentials", headers={"Authorization": f"Bearer {token}"})
            assert ok.json() == {"credentials": []}

    asyncio.run(main())

    fixed = "t" * 32
    env = {PASSPHRASE_ENV: PASSPHRASE, TOKEN_ENV: fixed}
    from_env = cli.invoke(wallet, ["--wallet", str(path), "serve"], env=env)
    assert from_env.exit_code == 0, from_env.output
    assert fixed not in from_env.output
    assert runs.pop()[0].authorized(fixed.encode())

    exposed = cli.invoke(wallet, ["--wallet", str(path), "serve", "--host", "0.0.0.0"], env=env)
    assert exposed.exit_code == 2
    assert "loopback" in exposed.output
    short = cli.invoke(
        wallet, ["--wallet", str(path), "serve"], env={PASSPHRASE_ENV: PASSPHRASE, TOKEN_ENV: "x"}
    )
    assert short.exit_code == 2
    wrong = cli.invoke(
        wallet, ["--wallet", str(path), "serve"], env={PASSPHRASE_ENV: "wrong passphrase"}
    )
    assert wrong.exit_code == 2
    assert not runs
    assert json.loads(path.read_text())["header"]["n"] == FAST_N
