"""``careledger bench …``: parse options, run a workload of :mod:`careledger.bench`, print its
:class:`~careledger.bench.report.BenchReport` (text, or ``--json``)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from careledger.bench.report import BenchReport
from careledger.errors import CareLedgerError

_DIR = click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The network's directory (configs, data, PID files, logs).",
)

LABELS = {
    "jcs_issue_per_s": "eddsa-jcs-2022 issue/s",
    "jcs_verify_per_s": "eddsa-jcs-2022 verify/s",
    "rdfc_issue_per_s": "eddsa-rdfc-2022 issue/s",
    "rdfc_verify_per_s": "eddsa-rdfc-2022 verify/s",
    "sd_jwt_issue_per_s": "SD-JWT VC issue/s",
    "sd_jwt_present_per_s": "SD-JWT present/s",
    "sd_jwt_presentation_verify_per_s": "SD-JWT presentation verify/s",
}


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _print(report: BenchReport, as_json: bool) -> None:
    if as_json:
        click.echo(report.to_json())
        return
    click.echo(report.title)
    for line in report.lines():
        click.echo(line)


@click.group()
def bench() -> None:
    """Benchmarks that print throughput and latency (Caliper-style)."""


@bench.command("ledger")
@click.option(
    "--transactions",
    type=click.IntRange(100, 10_000_000),
    default=20_000,
    show_default=True,
    help="Transfers to submit.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 100_000),
    default=512,
    show_default=True,
    help="Transactions in flight at once.",
)
@click.option(
    "--accounts",
    type=click.IntRange(10, 10_000_000),
    default=20_000,
    show_default=True,
    help="Accounts transfers pick from at random.",
)
@click.option(
    "--workers",
    is_flag=True,
    help="Peers validate and commit in worker processes (one per organisation).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def bench_ledger(
    transactions: int, concurrency: int, accounts: int, workers: bool, as_json: bool
) -> None:
    """Read-modify-write transfers, 3 organisations, 2-of-3 endorsement, embedded network."""
    from careledger.bench.ledger import run_ledger_bench

    report = asyncio.run(
        run_ledger_bench(
            transactions=transactions, concurrency=concurrency, accounts=accounts, workers=workers
        )
    )
    _print(report.report(), as_json)


@bench.command("network")
@_DIR
@click.option(
    "--transactions",
    type=click.IntRange(10, 10_000_000),
    default=2_000,
    show_default=True,
    help="Transfers to submit.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    default=48,
    show_default=True,
    help="Transactions in flight at once.",
)
@click.option(
    "--accounts",
    type=click.IntRange(10, 1_000_000),
    default=5_000,
    show_default=True,
    help="Accounts transfers pick from at random (few accounts: mostly MVCC conflicts).",
)
@click.option(
    "--nats-messages",
    type=click.IntRange(0, 10_000_000),
    default=5_000,
    show_default=True,
    help="Messages for the NATS publish ceiling (jetstream; 0: skip it).",
)
@click.option(
    "--submit-batch",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Transfers per HTTP request (POST /v1/submit-batch when over 1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def bench_network(
    directory: Path,
    transactions: int,
    concurrency: int,
    accounts: int,
    nats_messages: int,
    submit_batch: int,
    as_json: bool,
) -> None:
    """Transfers through every organisation's node of a `network up` network."""
    from careledger.bench.network import run_network_bench
    from careledger.netctl.layout import NetworkLayout

    try:
        report = asyncio.run(
            run_network_bench(
                NetworkLayout(directory),
                transactions=transactions,
                concurrency=concurrency,
                accounts=accounts,
                nats_messages=nats_messages,
                submit_batch=submit_batch,
            )
        )
    except CareLedgerError as exc:
        _fail(str(exc))
    _print(report.report(), as_json)


@bench.command("fhir")
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
@click.option(
    "--validation-workers",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="Validate each Bundle's resources in this many worker processes (0: in the thread "
    "that stores them).",
)
@click.option(
    "--network",
    "network_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Ingest with the locator transactions committed by this running `network up` "
    "directory (one provider per organisation) instead of an embedded consortium.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_fhir(
    resources: int,
    providers: int,
    requests: int,
    batch: int,
    validation_workers: int,
    network_dir: Path | None,
    as_json: bool,
) -> None:
    """Ingest resources/s (validate, encrypt, store, locator tx) and $everything p50/p95."""
    if network_dir is not None:
        from careledger.bench.fhir_network import fhir_network_report, run_fhir_network_bench

        try:
            figures = asyncio.run(
                run_fhir_network_bench(
                    network_dir,
                    resources=resources,
                    batch=batch,
                    validation_workers=validation_workers,
                )
            )
        except CareLedgerError as exc:
            _fail(str(exc))
        _print(fhir_network_report(figures), as_json)
        return
    from careledger.bench.fhir import fhir_report, run_fhir_bench

    figures = asyncio.run(
        run_fhir_bench(
            resources=resources,
            providers=providers,
            requests=requests,
            batch=batch,
            validation_workers=validation_workers,
        )
    )
    _print(fhir_report(figures), as_json)


@bench.command("ui")
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
    """Web UI page latency p50/p95: patient, clinician, payer-desk and explorer pages."""
    from careledger.bench.ui import run_ui_bench, ui_report

    figures = asyncio.run(run_ui_bench(resources=resources, blocks=blocks, requests=requests))
    _print(ui_report(figures), as_json)


@bench.command("credentials")
@click.option(
    "--seconds",
    type=click.FloatRange(0.01, 600.0),
    default=2.0,
    show_default=True,
    help="Measuring time per figure.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_credentials(seconds: float, as_json: bool) -> None:
    """Single-core issue/s and verify/s per format (Data Integrity JCS and RDFC, SD-JWT VC)."""
    from careledger.bench.credentials import run
    from careledger.bench.report import BenchReport

    figures = {k: round(v, 1) for k, v in run(seconds).items()}
    title = f"careledger bench credentials ({seconds:g} s per figure, one core)"
    _print(BenchReport(title, figures, labels=LABELS), as_json)


@bench.command("incentives")
@click.option(
    "--awards",
    type=click.IntRange(1, 1_000_000),
    default=500,
    show_default=True,
    help="Awards to make (each verifies a real immunization credential).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    default=64,
    show_default=True,
    help="Awards in flight at once.",
)
@click.option(
    "--auditor/--no-auditor",
    default=True,
    show_default=True,
    help="Campaign with an auditor organisation co-signing every award.",
)
@click.option(
    "--checks",
    type=click.IntRange(1, 1_000_000),
    default=2_000,
    show_default=True,
    help="Nullifier + cap checks timed at 10,000 and at 100,000 members.",
)
@click.option(
    "--max-batch",
    type=click.IntRange(1, 64),
    default=64,
    show_default=True,
    help="Awards per transaction at most (concurrent awards share one; 1: one each).",
)
@click.option(
    "--network",
    "network_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also award through the sponsor's node of this running `network up` directory.",
)
@click.option(
    "--network-awards",
    type=click.IntRange(2, 1_000_000),
    default=300,
    show_default=True,
    help="Awards posted through the running network (with --network).",
)
@click.option(
    "--embedded/--no-embedded",
    default=True,
    show_default=True,
    help="Run the embedded-consortium figures (--no-embedded: only the --network ones).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def bench_incentives(
    awards: int,
    concurrency: int,
    auditor: bool,
    checks: int,
    max_batch: int,
    network_dir: Path | None,
    network_awards: int,
    embedded: bool,
    as_json: bool,
) -> None:
    """Awards/s end to end (credential verification, rules, caps, nullifier, commit) and the
    nullifier + cap check cost at 10,000 vs 100,000 members, with a same-run ledger baseline;
    with --network, also awards/s through a `network up` network vs transfers on it."""
    from careledger.bench.incentives import run

    if not embedded and network_dir is None:
        _fail("--no-embedded leaves nothing to run without --network")
        return
    if embedded:
        report = run(
            awards=awards,
            concurrency=concurrency,
            auditor=auditor,
            checks=checks,
            max_batch=max_batch,
        )
        out = report.report()
    else:
        title = "careledger bench incentives (network up)"
        out = BenchReport(title, {}, "network_awards_per_s", "network_transfers_per_s")
    if network_dir is not None:
        from careledger.bench.incentives_network import run_network_awards

        try:
            figures = asyncio.run(
                run_network_awards(
                    network_dir, awards=network_awards, concurrency=concurrency, auditor=auditor
                )
            )
        except CareLedgerError as exc:
            _fail(str(exc))
            return
        out.figures.update(figures)
    _print(out, as_json)


@bench.command("payer")
@click.option(
    "--claims",
    type=click.IntRange(10, 100_000),
    default=500,
    show_default=True,
    help="Claims in the 837P timed end to end against pyx12.",
)
@click.option(
    "--linear-claims",
    type=click.IntRange(0, 100_000),
    default=5000,
    show_default=True,
    help="Claims in the larger 837P (linearity; 0 skips it).",
)
@click.option(
    "--committed",
    type=click.IntRange(0, 100_000),
    default=2000,
    show_default=True,
    help="Claims adjudicated and committed on the embedded consortium (0 skips it).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=128,
    show_default=True,
    help="Members' claim queues in flight at once.",
)
@click.option(
    "--pa-rounds",
    type=click.IntRange(0, 100),
    default=3,
    show_default=True,
    help="Rounds of PA $submit at 10 and 100 clients (0 skips it).",
)
@click.option("--no-baseline", is_flag=True, help="Skip pyx12 validating the file alone.")
@click.option(
    "--network",
    "network_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also post 837 files to the payer's node of this running `network up` directory.",
)
@click.option(
    "--network-claims",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Claims posted through the running network (with --network).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_payer(
    claims: int,
    linear_claims: int,
    committed: int,
    concurrency: int,
    pa_rounds: int,
    no_baseline: bool,
    network_dir: Path | None,
    network_claims: int,
    as_json: bool,
) -> None:
    """837P end to end vs pyx12 alone, claims committed/s, PA $submit p50/p95."""
    from careledger.bench.payer import run_payer_bench

    try:
        report = asyncio.run(
            run_payer_bench(
                claims=claims,
                linear_claims=linear_claims,
                committed=committed,
                concurrency=concurrency,
                pa_rounds=pa_rounds,
                baseline=not no_baseline,
                network=network_dir,
                network_claims=network_claims,
            )
        )
    except (CareLedgerError, ImportError) as exc:
        _fail(str(exc))
        return
    _print(report, as_json)
