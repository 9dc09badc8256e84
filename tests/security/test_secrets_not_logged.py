"""No secret reaches the logs: nodes (with FHIR) and a wallet server run with every logger at
DEBUG through submits, FHIR writes and reads, refused callers and bad tokens; then the records
are searched for every key, passphrase, token and master key in every encoding we write them."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import os
from pathlib import Path

import httpx
import msgspec
import pytest

from careledger.api.auth import sign_request
from careledger.daemon.config import FhirSettings, NodeConfig
from careledger.daemon.process import fhir_paths
from careledger.node.consortium import MEMBERS, ConsortiumConfig
from careledger.sim.demo_fhir import CONTRACT_POLICY, CONTRACTS
from tests.api.nodes import cluster
from tests.security.test_route_access import wallet_server

KEY_ENV = "CARELEDGER_TEST_SECRET_MASTER_KEY"
PASSPHRASE = "walk passphrase"  # tests.security.test_route_access.wallet_server's


def _encodings(raw: bytes) -> set[str]:
    return {
        raw.hex(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b64encode(raw).decode().rstrip("="),
        repr(raw)[2:-1][:40],
    }


def test_no_secret_is_logged_at_debug(
    consortium: ConsortiumConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    master = os.urandom(32)
    master_text = base64.urlsafe_b64encode(master).decode().rstrip("=")
    monkeypatch.setenv(KEY_ENV, master_text)
    fhir = FhirSettings(enabled=True, master_key_env=KEY_ENV)
    token = ""

    def with_fhir(org: str, config: NodeConfig) -> NodeConfig:
        return dataclasses.replace(config, fhir=fhir) if org == "Org1" else config

    async def main() -> None:
        nonlocal token
        async with (
            cluster(
                consortium,
                orgs=("Org1", "Org2"),
                contracts=CONTRACTS,
                policy=CONTRACT_POLICY,
                configure=with_fhir,
            ) as c,
            wallet_server(tmp_path) as (wallet_url, wallet_token),
            httpx.AsyncClient(base_url=c.nodes["Org1"].url) as node,
            httpx.AsyncClient(base_url=wallet_url) as wallet,
        ):
            token = wallet_token
            own = consortium.member("Org1", "client0")
            body = msgspec.json.encode({"resourceType": "Patient", "active": True})
            for who in (own, consortium.member("Org2", "client0"), None):
                headers = {"content-type": "application/fhir+json"}
                if who is not None:
                    headers |= sign_request(who, "POST", "/fhir/Patient", body)
                await node.post("/fhir/Patient", content=body, headers=headers)
                await node.get(
                    "/fhir/Patient", headers=sign_request(own, "GET", "/fhir/Patient", b"")
                )
            bad = sign_request(own, "GET", "/v1/state", b"") | {"X-CareLedger-Signature": "AA"}
            assert (await node.get("/v1/state", headers=bad)).status_code == 401
            client = await c.client("Org1", "admin")
            await client.evaluate("_gov", "contracts", [])
            for presented in (wallet_token, "not-the-token-at-all"):
                await wallet.get("/v1/wallet/did", headers={"Authorization": f"Bearer {presented}"})

    asyncio.run(main())

    secrets: dict[str, set[str]] = {
        "FHIR master key": _encodings(master) | {master_text},
        "wallet token": {token},
        "wallet passphrase": {PASSPHRASE},
    }
    for org in consortium.org_ids:
        seed = consortium.root_key(org).seed()
        secrets[f"{org} root key"] = _encodings(seed)
        for name, _role in MEMBERS:
            secrets[f"{org}.{name} key"] = _encodings(consortium.member(org, name).key.seed())
    holder = fhir_paths(fhir, consortium.dir / "nodes" / "Org1")[2].read_text().strip()
    secrets["FHIR holder secret"] = {holder}

    records = caplog.records
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.__dict__}" for r in records)
    leaks = [name for name, values in secrets.items() for v in values if v and v in text]
    print(f"\nsecrets not logged: {len(records)} DEBUG records, {len(secrets)} secrets checked")
    assert len(records) > 20, "the run logged too little for the search to mean anything"
    assert leaks == []
