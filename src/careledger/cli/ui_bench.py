"""``careledger bench ui``: page latency of the web UI on demo data.

Parses options and delegates to :func:`careledger.web.bench.run_ui_bench`; registered under
the ``bench`` group by :mod:`careledger.cli.main`.
"""

from __future__ import annotations

import asyncio
import json

import click


@click.command("ui")
@click.option(
    "--resources",
    type=click.IntRange(10, 100_000),
    default=1000,
    show_default=True,
    help="Resources of the one demo patient.",
)
@click.option(
    "--blocks",
    type=click.IntRange(10, 10_000_000),
    default=100_000,
    show_default=True,
    help="Chain length the explorer pages are measured on.",
)
@click.option(
    "--requests",
    type=click.IntRange(1, 10_000),
    default=30,
    show_default=True,
    help="Requests timed per page.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_ui(resources: int, blocks: int, requests: int, as_json: bool) -> None:
    """Web UI page latency p50/p95: patient, clinician and explorer pages."""
    from careledger.cli.console import console, say, text
    from careledger.web.bench import run_ui_bench

    report = asyncio.run(run_ui_bench(resources=resources, blocks=blocks, requests=requests))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    console.rule(text("careledger bench ui"))
    for key, value in report.items():
        say(f"  {key:<44} {value}")
