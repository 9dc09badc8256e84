"""Rotating a running node's FHIR master key: the key file gains the new key, the node reloads
it (what SIGHUP does), ``careledger node rewrap-keys`` runs beside it, the old key goes; every
request made meanwhile is answered as if nothing happened."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import os
import re
import signal
import tomllib
from pathlib import Path

import httpx
import msgspec
import pytest
from click.testing import CliRunner

from careledger.api.auth import sign_request
from careledger.cli.main import cli
from careledger.crypto.keyfiles import write_secret
from careledger.daemon.config import (
    FhirSettings,
    HttpSettings,
    NodeConfig,
    OrderingSettings,
    save_node_config,
)
from careledger.daemon.process import run_node
from careledger.fhir.store.envelope import MasterKey
from careledger.node.consortium import ConsortiumConfig
from careledger.sim.demo_fhir import CONTRACT_POLICY, CONTRACTS
from tests.api.nodes import cluster, free_port

PATIENTS = 6


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def test_a_running_node_rotates_its_master_key_without_refusing_a_request(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    key_file = tmp_path / "fhir-master.keys"
    old, new = _key(), _key()
    write_secret(key_file, f"{old}\n")
    fhir = FhirSettings(enabled=True, master_key_file=str(key_file))
    own = consortium.member("Org1", "client0")

    def with_fhir(org: str, config: NodeConfig) -> NodeConfig:
        return dataclasses.replace(config, fhir=fhir) if org == "Org1" else config

    async def call(http: httpx.AsyncClient, method: str, target: str, body: bytes = b"") -> int:
        headers = sign_request(own, method, target, body)
        if body:
            headers["content-type"] = "application/fhir+json"
        reply = await http.request(method, target, content=body, headers=headers)
        return reply.status_code

    async def main() -> None:
        async with cluster(
            consortium,
            orgs=("Org1", "Org2"),
            contracts=CONTRACTS,
            policy=CONTRACT_POLICY,
            configure=with_fhir,
        ) as c:
            node = c.nodes["Org1"]
            assert node.fhir is not None
            config_path = tmp_path / "org1.toml"
            save_node_config(node.config, config_path)
            body = msgspec.json.encode({"resourceType": "Patient", "active": True})
            async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
                ids = []
                for _ in range(PATIENTS):
                    made = await http.post(
                        "/fhir/Patient",
                        content=body,
                        headers={
                            "content-type": "application/fhir+json",
                            **sign_request(own, "POST", "/fhir/Patient", body),
                        },
                    )
                    ids.append(made.json()["id"])
                statuses: list[int] = []
                stop = asyncio.Event()

                async def traffic() -> None:
                    i = 0
                    while not stop.is_set():
                        statuses.append(
                            await call(http, "GET", f"/fhir/Patient/{ids[i % PATIENTS]}")
                        )
                        statuses.append(await call(http, "POST", "/fhir/Patient", body))
                        i += 1

                async def served_more() -> None:
                    """Until the traffic has gone on for a few more requests."""
                    target = len(statuses) + 4
                    async with asyncio.timeout(20):
                        while len(statuses) < target:
                            await asyncio.sleep(0.01)

                running = asyncio.create_task(traffic())
                await served_more()
                write_secret(key_file, f"# current first\n{new}\n{old}\n")
                node.reload_keys()  # what SIGHUP does in `careledger node start`
                await served_more()
                store = node.fhir.service.store
                stale = store.stale_patient_keys()  # type: ignore[attr-defined]
                assert stale >= PATIENTS  # every patient so far, under the old key
                runner = CliRunner()
                args = ["node", "rewrap-keys", "--config", str(config_path), "--batch", "2"]
                done = await asyncio.to_thread(runner.invoke, cli, args)
                assert done.exit_code == 0, done.output
                rewrapped = re.search(r"re-wrapped (\d+) patient keys", done.output)
                assert rewrapped is not None
                assert int(rewrapped.group(1)) >= stale
                assert done.output.rstrip().endswith("may now be removed")
                await served_more()

                key_file.chmod(0o644)  # a key file others may read is refused, keys stay
                node.reload_keys()
                key_file.chmod(0o600)
                await served_more()
                write_secret(key_file, f"{new}\n")
                node.reload_keys()
                await served_more()
                stop.set()
                await running
                assert len(statuses) >= 20
                assert set(statuses) <= {200, 201}, sorted(set(statuses))
                for pid in ids:
                    assert await call(http, "GET", f"/fhir/Patient/{pid}") == 200
                assert store.stale_patient_keys() == 0  # type: ignore[attr-defined]
            saved = tomllib.loads(config_path.read_text())
            assert saved["fhir"]["master_key_file"]

    asyncio.run(main())


def test_sighup_reloads_the_master_keys_of_a_node_run_by_run_node(
    consortium: ConsortiumConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`careledger node start` (run_node) turns SIGHUP into a reload of the key file."""
    key_file = tmp_path / "fhir-master.keys"
    old, new = _key(), _key()
    write_secret(key_file, f"{old}\n")
    config = NodeConfig(
        org="Org1",
        consortium=consortium.dir,
        data_dir=tmp_path / "data",
        http=HttpSettings(port=free_port()),
        ordering=OrderingSettings(backend="embedded-solo"),
        fhir=FhirSettings(enabled=True, master_key_file=str(key_file)),
    )
    path = tmp_path / "org1.toml"
    save_node_config(config, path)
    caplog.set_level(logging.INFO, logger="careledger.node")

    async def main() -> None:
        ready = asyncio.Event()
        running = asyncio.create_task(run_node(path, ready=lambda _url: ready.set()))
        async with asyncio.timeout(30):
            await ready.wait()
        write_secret(key_file, f"{new}\n{old}\n")
        os.kill(os.getpid(), signal.SIGHUP)
        want = f"current {MasterKey.from_text(new).key_id}, 2 in the ring"
        async with asyncio.timeout(10):
            while not any(want in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)
        async with asyncio.timeout(30):
            await running

    asyncio.run(main())
