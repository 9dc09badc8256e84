"""The payer claim routes on ``careledger network up`` (a one-organisation ``embedded-solo``
network: the node process as ``network up`` spawns it): an 837 posted to the node is answered
by a 999 and a 277CA, and the day's 835 is served; pyx12 accepts all three. ``careledger bench
payer --network`` measures claims committed through it."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
from click.testing import CliRunner

from careledger.api.auth import sign_request
from careledger.api.client import NodeClient
from careledger.cli.bench import bench_payer
from careledger.cli.network import network
from careledger.netctl.layout import NetworkLayout
from careledger.node.consortium import load_config
from careledger.payer.claims.routes import EDI_X12, NodeClaimDirectory, member_system_of
from careledger.payer.x12.pyx12_check import pyx12_validate
from careledger.sim.payer_workload import benefit_plan, claims_837, coverage, payer_claims

ORG = "Org1"


def test_claims_on_network_up(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    layout = NetworkLayout(directory)
    runner = CliRunner()
    args = ["--dir", str(directory)]
    up = runner.invoke(network, ["up", *args, "--orgs", "1", "--ordering", "embedded-solo"])
    try:
        assert up.exit_code == 0, up.output
        spec = layout.load()
        config = load_config(layout.consortium)
        url = spec.url(ORG)

        async def main() -> None:
            async with NodeClient(url, config.member(ORG, "admin")) as admin:
                for name in ("plans", "claims"):
                    change = {"name": name, "version": "1.0", "policy": f"1 OF ({ORG})"}
                    proposed = await admin.submit("_gov", "propose", ["contract", change])
                    assert proposed.result["status"] == "applied", proposed.result
                text = (layout.data(ORG) / "payer-member.secret").read_text().strip()
                secret = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
                members = NodeClaimDirectory(ORG, secret, member_system_of(ORG))
                await admin.submit("plans", "publish", [msgspec.to_builtins(benefit_plan(ORG))])
                claims = payer_claims(2, ORG, ORG, members)
                for claim, _off in claims:
                    await admin.submit(
                        "plans", "enrol", [msgspec.to_builtins(coverage(claim.member))]
                    )
            member = config.member(ORG, "client0")
            async with httpx.AsyncClient(timeout=30) as web:

                async def call(method: str, path: str, raw: bytes) -> httpx.Response:
                    headers = sign_request(member, method, path, raw)
                    headers["Content-Type"] = EDI_X12
                    return await web.request(method, url + path, content=raw, headers=headers)

                answer = await call("POST", "/payer/x12", claims_837(claims, ORG, b"up"))
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert len(body["claims"]) == 2
                assert pyx12_validate(body["ack999"]).accepted
                assert pyx12_validate(body["status277ca"]).accepted
                today = datetime.now(UTC).date().isoformat()
                npi = claims[0][0].billing_npi
                remit = await call("GET", f"/payer/remittance/{npi}/{today}", b"")
                assert remit.status_code == 200, remit.text
                assert pyx12_validate(remit.content).accepted

        asyncio.run(main())

        # careledger bench payer --network: claims committed/s through the running network.
        bench = runner.invoke(
            bench_payer,
            [
                "--json",
                "--claims",
                "10",
                "--linear-claims",
                "0",
                "--committed",
                "0",
                "--pa-rounds",
                "0",
                "--no-baseline",
                "--network",
                str(directory),
                "--network-claims",
                "30",
            ],
        )
        assert bench.exit_code == 0, bench.output
        figures = json.loads(bench.output)
        assert figures["network_committed_claims"] == 30
        assert figures["network_committed_claims_per_s"] > 0
    finally:
        runner.invoke(network, ["down", *args])
