"""``careledger incentives`` against real nodes over HTTP, as sponsors, auditors and members
run it (CliRunner in a worker thread while the nodes serve on the test's loop)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import msgspec
from click.testing import CliRunner, Result

from careledger.cli.incentives import PASSPHRASE_ENV, incentives
from careledger.credentials.wallet import Wallet
from careledger.node.consortium import ConsortiumConfig
from tests.api.nodes import cluster
from tests.incentives.helpers import spec

PASSPHRASE = "correct horse battery"


def test_sponsor_and_member_commands(consortium: ConsortiumConfig, tmp_path: Path) -> None:
    wallet_path = tmp_path / "wallet.json"
    Wallet.create(wallet_path, PASSPHRASE, scrypt_n=2**10).save()
    spec_file = tmp_path / "campaign.json"
    spec_file.write_text(json.dumps(msgspec.to_builtins(spec("walks", budget=1_000))))

    async def scenario() -> None:
        async with cluster(consortium, contracts=("incentives",)) as c:
            url = c.nodes["Org1"].url

            async def cli(*args: str, member: str = "Org1.admin") -> Result:
                base = ["--node", url, "--consortium", str(consortium.dir), "--member", member]
                env = {PASSPHRASE_ENV: PASSPHRASE, "CARELEDGER_WALLET": str(wallet_path)}
                return await asyncio.to_thread(
                    CliRunner().invoke, incentives, [*base, *args], env=env
                )

            proposed = await cli("sponsor", "propose", "Org1", "--ceiling-cents", "50000")
            assert proposed.exit_code == 0, proposed.output
            motion = json.loads(proposed.output)["id"]
            approved = await cli("sponsor", "approve", motion, member="Org2.admin")
            assert json.loads(approved.output)["status"] == "applied"
            created = await cli("campaign", "create", str(spec_file))
            assert json.loads(created.output)["transferable"] is False
            assert (await cli("campaigns")).output.split() == ["walks"]

            keys = json.loads((await cli("wallet", "key", "walks")).output)
            sponsor = await c.client("Org1")
            args = ["walks", keys["member_key"], "visit", os.urandom(32).hex(), 100]
            args += [os.urandom(32).hex(), "ab" * 32, b"", b"", 0]
            await sponsor.submit("incentives", "award", args)

            shown = await cli("wallet", "show", member="Org2.client0")
            assert "walks: 100 points" in shown.output
            assert "not transferable" in shown.output
            spent = await cli("redeem", "walks", "mug", member="Org2.client0")
            assert json.loads(spent.output)["status"] == "redeemed", spent.output
            broke = await cli("redeem", "walks", "mug", "--quantity", "2", member="Org2.client0")
            assert json.loads(broke.output)["code"] == "insufficient_balance"
            history = json.loads((await cli("wallet", "history", "walks")).output)
            assert [h["balance"] for h in history] == [100, 50]
            report = await cli("report", "walks")
            assert "awarded      100" in report.output
            assert "< 11 (suppressed)" in report.output
            figures = json.loads((await cli("report", "walks", "--json")).output)
            assert (figures["funded"], figures["remaining"]) == (1_000, 900)
            assert len(json.loads((await cli("awards", "walks")).output)) == 1
            denied = await cli("awards", "walks", member="Org3.client0")
            assert denied.exit_code == 2
            assert "error:" in denied.output

            too_big = await cli("campaign", "create", str(spec_file))
            assert too_big.exit_code == 2  # exists already
            bad = tmp_path / "bad.json"
            bad.write_text('{"id": "x", "program": "cash"}')
            refused = await cli("campaign", "create", str(bad))
            assert refused.exit_code == 2
            assert "campaign spec" in refused.output
            assert (await cli("campaigns", member="nobody")).exit_code == 2

    asyncio.run(scenario())
