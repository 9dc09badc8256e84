"""A node (node API + FHIR at /fhir) and a wallet API served by real uvicorn servers on
127.0.0.1, in a thread of their own, for the API fuzzers (which send blocking requests).

Org1's node serves FHIR with signed requests required; Org2's node is its endorsing peer; the
FHIR contracts (dids, locator, consent, audit) are approved. The wallet is a fresh one with a
holder key behind a bearer token.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from careledger.api.auth import sign_request
from careledger.api.server import ApiServer
from careledger.api.wallet_app import create_wallet_app, new_token
from careledger.credentials.wallet import Wallet
from careledger.daemon.config import FhirSettings, NodeConfig
from careledger.identity.msp import LocalIdentity
from careledger.node.consortium import ConsortiumConfig
from careledger.sim.demo_fhir import CONTRACT_POLICY, CONTRACTS
from tests.api.nodes import cluster

KEY_ENV = "CARELEDGER_FUZZ_FHIR_MASTER_KEY"
WALLET_PASSPHRASE = "correct horse battery"
START_TIMEOUT = 240.0


@dataclass(frozen=True)
class Served:
    consortium: ConsortiumConfig
    node: str
    """Org1's node API base URL (FHIR under ``/fhir``)."""
    wallet: str
    wallet_token: str

    def member(self, org: str = "Org2", name: str = "client0") -> LocalIdentity:
        return self.consortium.member(org, name)

    def signed_get(self, target: str, org: str = "Org1") -> httpx.Response:
        headers = sign_request(self.member(org), "GET", target)
        return httpx.get(self.node + target, headers=headers, timeout=30)

    def fingerprint(self) -> tuple[int, int, str, int]:
        """(height, block height, state root, FHIR resources visible to Org1's own user):
        what a refused request must leave as it was."""
        state = self.signed_get("/v1/state").json()
        bundle = self.signed_get("/fhir/Patient?_summary=count").json()
        return state["height"], state["block_height"], state["state_root"], bundle.get("total", -1)


@contextmanager
def served(directory: Path, consortium: ConsortiumConfig) -> Iterator[Served]:
    """Start everything in a background thread; stop it (bounded) on exit."""
    os.environ[KEY_ENV] = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    fhir = FhirSettings(enabled=True, master_key_env=KEY_ENV)
    wallet = Wallet.create(directory / "wallet.json", WALLET_PASSPHRASE, scrypt_n=2**12)
    wallet.new_key("holder")
    wallet.save()
    token = new_token()
    ready: queue.Queue[tuple[str, str] | BaseException] = queue.Queue()
    stop = threading.Event()

    def with_fhir(org: str, config: NodeConfig) -> NodeConfig:
        return dataclasses.replace(config, fhir=fhir) if org == "Org1" else config

    async def main() -> None:
        async with cluster(
            consortium,
            orgs=("Org1", "Org2"),
            contracts=CONTRACTS,
            policy=CONTRACT_POLICY,
            configure=with_fhir,
        ) as c:
            server = ApiServer(create_wallet_app(wallet, token), "127.0.0.1", 0)
            await server.start()
            try:
                ready.put((c.nodes["Org1"].url, server.url))
                while not stop.is_set():
                    await asyncio.sleep(0.05)
            finally:
                await server.stop()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test through the queue
            ready.put(exc)

    thread = threading.Thread(target=run, name="fuzzed-node", daemon=True)
    thread.start()
    try:
        got = ready.get(timeout=START_TIMEOUT)
        if isinstance(got, BaseException):
            raise got
        yield Served(consortium, got[0], got[1], token)
    finally:
        stop.set()
        thread.join(timeout=60)
        os.environ.pop(KEY_ENV, None)
