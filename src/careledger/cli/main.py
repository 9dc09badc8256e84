"""Entry point of the ``careledger`` command."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console

from careledger import __version__
from careledger.cli.bench import bench
from careledger.cli.credentials_context import credentials
from careledger.cli.network import network
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


cli.add_command(node)
cli.add_command(network)
cli.add_command(wallet)
cli.add_command(bench)
cli.add_command(credentials)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
