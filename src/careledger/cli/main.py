"""Entry point of the ``careledger`` command."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from careledger import __version__
from careledger.cli.credentials import bench_credentials
from careledger.cli.fhir_bench import bench_fhir
from careledger.cli.incentives import incentives
from careledger.cli.network import bench_network, network
from careledger.cli.node import node
from careledger.cli.wallet import wallet
from careledger.errors import CareLedgerError, ChainVerificationError
from careledger.ledger.codes import ValidationCode
from careledger.node.consortium import init_consortium, load_config
from careledger.node.peer import CommitEvent

console = Console(highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {message}")
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="careledger")
def cli() -> None:
    """CareLedger: a permissioned ledger for healthcare consortia."""


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--orgs",
    "org_count",
    type=click.IntRange(1, 32),
    default=3,
    show_default=True,
    help="Number of organisations (named Org1..OrgN).",
)
@click.option(
    "--org", "org_names", multiple=True, help="Organisation id (repeat; overrides --orgs)."
)
@click.option("--name", default="careledger", show_default=True, help="Consortium name.")
def init(directory: Path, org_count: int, org_names: tuple[str, ...], name: str) -> None:
    """Write a consortium config, key material and genesis block into DIRECTORY."""
    orgs = list(org_names) or [f"Org{i}" for i in range(1, org_count + 1)]
    try:
        config = init_consortium(directory, orgs, name=name)
    except CareLedgerError as exc:
        _fail(str(exc))
    console.print(
        f"consortium [bold]{config.name}[/] with {', '.join(config.org_ids)} in {directory}"
    )


def _render_commit(event: CommitEvent) -> None:
    counts: dict[str, int] = {}
    for _tx, code in event.tx_codes:
        counts[code.name] = counts.get(code.name, 0) + 1
    parts = [
        f"[green]{n} valid[/]" if c == ValidationCode.VALID.name else f"[yellow]{n} {c}[/]"
        for c, n in sorted(counts.items(), key=lambda kv: kv[0] != "VALID")
    ]
    console.print(f"  [dim]block {event.block:>3}[/] · {', '.join(parts)}")


@cli.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the consortium here (default: a temporary directory, removed after).",
)
def demo(data_dir: Path | None) -> None:
    """Run the scripted story on an embedded three-organisation consortium."""
    from careledger.sim.demo import run_demo

    temp = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="careledger-demo-")) if data_dir is None else data_dir
    console.rule("[bold]CareLedger demo[/] — embedded consortium: Hospital, Lab, Payer")

    def on_step(title: str, line: str) -> None:
        console.print(f"[bold cyan]✔ {title}[/]: {line}")

    try:
        asyncio.run(run_demo(directory, on_step, _render_commit))
    except CareLedgerError as exc:
        _fail(str(exc))
    finally:
        if temp:
            shutil.rmtree(directory, ignore_errors=True)
    console.rule("demo complete" + ("" if temp else f" — data kept in {directory}"))


@cli.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--org", "orgs", multiple=True, help="Only this organisation's chain (repeat).")
def verify(directory: Path, orgs: tuple[str, ...]) -> None:
    """Re-verify every peer's chain in a consortium DIRECTORY from its files."""
    from careledger.ledger.state.sqlite import SQLiteStateStore
    from careledger.validation.chain import verify_chain

    try:
        config = load_config(directory)
        genesis = config.genesis().header.hash()
    except CareLedgerError as exc:
        _fail(str(exc))
    failed = False
    for org in orgs or tuple(config.org_ids):
        block_file = config.data_dir(org) / "blocks.log"
        if not block_file.exists():
            console.print(f"{org}: [yellow]no chain yet[/] ({block_file} missing)")
            continue
        state_db = config.data_dir(org) / "state.db"
        root = None
        if state_db.exists():
            store = SQLiteStateStore(state_db)
            root = store.state_root()
            store.close()
        try:
            report = verify_chain(block_file, genesis_hash=genesis, expected_state_root=root)
        except ChainVerificationError as exc:
            console.print(f"{org}: [bold red]FAILED[/] {exc}")
            failed = True
            continue
        console.print(
            f"{org}: [green]OK[/] {report.blocks} blocks, {report.transactions} transactions "
            f"({report.valid} valid), state root {report.state_root.hex()[:16]}…"
        )
    if failed:
        sys.exit(1)


@cli.group()
def bench() -> None:
    """Benchmarks that print throughput and latency (Caliper-style)."""


def _print_report(title: str, data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    console.rule(title)
    for key, value in data.items():
        console.print(f"  {key:<24} {value}")


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
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def bench_ledger(transactions: int, concurrency: int, accounts: int, as_json: bool) -> None:
    """Read-modify-write transfers, 3 organisations, 2-of-3 endorsement, embedded network."""
    from careledger.sim.bench_ledger import run_ledger_bench

    report = asyncio.run(
        run_ledger_bench(transactions=transactions, concurrency=concurrency, accounts=accounts)
    )
    _print_report("careledger bench ledger", report.as_dict(), as_json)


cli.add_command(node)
cli.add_command(network)
cli.add_command(wallet)
cli.add_command(incentives)
bench.add_command(bench_network)
bench.add_command(bench_credentials)
bench.add_command(bench_fhir)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
