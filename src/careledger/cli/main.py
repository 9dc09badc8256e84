"""Entry point of the ``careledger`` command."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

import click

from careledger import __version__
from careledger.cli.bench import bench
from careledger.cli.console import console, say, text
from careledger.cli.credentials_context import credentials
from careledger.cli.incentives import incentives
from careledger.cli.network import network
from careledger.cli.node import node
from careledger.cli.wallet import wallet
from careledger.errors import CareLedgerError, ChainVerificationError
from careledger.ledger.codes import ValidationCode
from careledger.node.consortium import init_consortium, load_config
from careledger.node.peer import CommitEvent


def _fail(message: str, code: int = 2) -> None:
    say(("error:", "bold red"), " ", message)
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
    say("consortium ", (config.name, "bold"), f" with {', '.join(config.org_ids)} in {directory}")


def _render_commit(event: CommitEvent) -> None:
    counts: dict[str, int] = {}
    for _tx, code in event.tx_codes:
        counts[code.name] = counts.get(code.name, 0) + 1
    parts: list[str | tuple[str, str]] = [("  block " + f"{event.block:>3}", "dim"), " · "]
    for i, (c, n) in enumerate(sorted(counts.items(), key=lambda kv: kv[0] != "VALID")):
        valid = c == ValidationCode.VALID.name
        parts += [", "] if i else []
        parts.append((f"{n} valid", "green") if valid else (f"{n} {c}", "yellow"))
    say(*parts)


@cli.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the consortium here (default: a temporary directory, removed after).",
)
@click.option(
    "--serve",
    is_flag=True,
    help="After the story, serve the web UI of a populated demo consortium until Ctrl-C.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port of the web UI on 127.0.0.1 with --serve (0: any free port).",
)
def demo(data_dir: Path | None, serve: bool, port: int) -> None:
    """Run the scripted story on an embedded three-organisation consortium."""
    from careledger.sim.demo import run_demo

    temp = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="careledger-demo-")) if data_dir is None else data_dir
    console.rule("[bold]CareLedger demo[/] — embedded consortium: Hospital, Lab, Payer")

    def on_step(title: str, line: str) -> None:
        say((f"✔ {title}", "bold cyan"), ": ", line)

    try:
        asyncio.run(run_demo(directory, on_step, _render_commit))
        console.rule(text("demo complete" + ("" if temp else f" — data kept in {directory}")))
        if serve:
            asyncio.run(_serve_ui(directory / "ui", port))
        else:
            say("See it in a browser: ", ("careledger demo --serve", "bold"))
    except CareLedgerError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        say("web UI stopped")
    finally:
        if temp:
            shutil.rmtree(directory, ignore_errors=True)


async def _serve_ui(directory: Path, port: int) -> None:
    from careledger.sim.demo_ui import open_demo_ui

    say("Populating a demo consortium for the web UI (patient, three holders, a consent)…")
    session = await open_demo_ui(directory, port=port)
    try:
        say(
            "Web UI: ",
            (session.url, "bold"),
            "  (sign in as the demo patient or staff; Ctrl-C stops it)",
        )
        sys.stdout.flush()
        await session.wait()
    finally:
        await session.close()


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
            say(f"{org}: ", ("no chain yet", "yellow"), f" ({block_file} missing)")
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
            say(f"{org}: ", ("FAILED", "bold red"), f" {exc}")
            failed = True
            continue
        say(
            f"{org}: ",
            ("OK", "green"),
            f" {report.blocks} blocks, {report.transactions} "
            f"transactions ({report.valid} valid), state root {report.state_root.hex()[:16]}…",
        )
    if failed:
        sys.exit(1)


cli.add_command(node)
cli.add_command(network)
cli.add_command(wallet)
cli.add_command(bench)
cli.add_command(credentials)
cli.add_command(incentives)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
