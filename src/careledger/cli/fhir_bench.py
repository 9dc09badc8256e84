"""``careledger bench fhir``: FHIR ingest with record locator transactions, and ``$everything``
latency across providers, on an embedded consortium.

Parses options and delegates to :func:`careledger.sim.demo_fhir.run_fhir_bench`; registered
under the ``bench`` group by :mod:`careledger.cli.main`.
"""

from __future__ import annotations

import asyncio
import json

import click


@click.command("fhir")
@click.option(
    "--resources",
    type=click.IntRange(10, 100_000),
    default=1000,
    show_default=True,
    help="Resources of the one benchmark patient.",
)
@click.option(
    "--providers",
    type=click.IntRange(2, 16),
    default=5,
    show_default=True,
    help="Organisations holding them.",
)
@click.option(
    "--requests",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    help="$everything calls timed.",
)
@click.option(
    "--batch",
    type=click.IntRange(1, 1000),
    default=200,
    show_default=True,
    help="Resources per transaction Bundle (one locator transaction each).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_fhir(resources: int, providers: int, requests: int, batch: int, as_json: bool) -> None:
    """Ingest resources/s (validate, encrypt, store, locator tx) and $everything p50/p95."""
    from careledger.sim.demo_fhir import run_fhir_bench

    figures = asyncio.run(
        run_fhir_bench(resources=resources, providers=providers, requests=requests, batch=batch)
    )
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    click.echo("careledger bench fhir (embedded consortium)")
    for key, value in figures.items():
        click.echo(f"  {key:<28} {value}")
