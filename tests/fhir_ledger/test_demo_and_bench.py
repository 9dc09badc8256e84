"""The FHIR chapter of the demo runs end to end; the bench command reports its figures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from careledger.cli.bench import bench_fhir
from careledger.node.consortium import init_consortium
from careledger.node.network import EmbeddedNetwork
from careledger.sim.demo import DemoContext
from careledger.sim.demo_fhir import FHIR_STORY


def test_fhir_story(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        init_consortium(tmp_path, ["Hospital", "Lab", "Payer"], name="demo")
        net = EmbeddedNetwork.open(tmp_path, fsync=False)
        await net.start()
        try:
            ctx = DemoContext(net)
            return [await step(ctx) for _title, step in FHIR_STORY]
        finally:
            await net.stop()

    lines = asyncio.run(scenario())
    assert len(lines) == len(FHIR_STORY)
    assert "answered 403" in lines[2]
    assert "from Hospital, Lab, Payer" in lines[2]
    assert "exported as" in lines[4]
    assert "crypto-shredded" in lines[5]


@pytest.mark.parametrize("workers", [0, 1])
def test_bench_fhir_json(workers: int) -> None:
    args = ["--json", "--resources", "60", "--providers", "2", "--requests", "3"]
    result = CliRunner().invoke(bench_fhir, [*args, "--validation-workers", str(workers)])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["everything_resources"] == figures["resources"] - 1  # Patient de-duplicated
    assert figures["ingest_resources_per_s"] > 0
    assert figures["locator_policy"] == "2 OF (Provider1, Provider2)"
    assert (figures["validation_workers_cpu_ms_per_resource"] > 0) == (workers > 0)
