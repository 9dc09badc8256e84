"""``careledger node``: run one organisation's node (registered on the root command).

Also runnable as ``python -m careledger.cli.node start --config FILE``, which is how
``careledger network up`` starts node processes.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click

from careledger.errors import CareLedgerError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def node() -> None:
    """One organisation's node: peer, gateway and HTTP API."""


@node.command("start")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The node's TOML configuration file (see docs/network.md).",
)
def start(config_path: Path) -> None:
    """Run the node until SIGTERM or Ctrl-C."""
    from careledger.daemon.process import run_node

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    def ready(url: str) -> None:
        click.echo(f"node serving on {url}", err=True)

    try:
        asyncio.run(run_node(config_path, ready=ready))
    except (CareLedgerError, NotImplementedError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@node.command("rewrap-keys")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The node's TOML configuration file (its [fhir] store and master key variable).",
)
@click.option(
    "--batch",
    default=200,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Patient keys re-wrapped per transaction.",
)
@click.option("--check", is_flag=True, help="Only count the keys still under older master keys.")
def rewrap_keys(config_path: Path, batch: int, check: bool) -> None:
    """Re-wrap the FHIR store's patient keys onto the current master key, while the node runs.

    The node must already use the new key as its current one and keep the old one in its ring
    (docs/security.md, rotating the FHIR master key)."""
    from careledger.daemon.config import load_node_config
    from careledger.daemon.process import fhir_paths
    from careledger.fhir.store.keyring import PREVIOUS_SUFFIX, MasterKeyRing, rewrap
    from careledger.fhir.store.sqlite import SQLiteResourceStore

    try:
        config = load_node_config(config_path)
        store_path, _outbox, _secret = fhir_paths(config.fhir, config.data_dir)
        if not config.fhir.enabled or not store_path.exists():
            raise CareLedgerError(f"{config_path}: this node has no FHIR store ([fhir] enabled)")
        ring = MasterKeyRing.load(config.fhir.master_key_file, config.fhir.master_key_env)
        store = SQLiteResourceStore(store_path, ring)
        try:
            if check:
                stale = store.stale_patient_keys()
                click.echo(f"{stale} patient keys under older master keys (current {ring.key_id})")
                sys.exit(1 if stale else 0)
            report = rewrap(store, batch=batch)
        finally:
            store.close()
    except CareLedgerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(
        f"re-wrapped {report.rewrapped} patient keys in {report.batches} batches "
        f"({report.seconds} s) onto master key {ring.key_id}; {report.remaining} left"
    )
    if report.remaining == 0:
        older = (
            f"the older keys of {config.fhir.master_key_file}"
            if config.fhir.master_key_file
            else f"{config.fhir.master_key_env}{PREVIOUS_SUFFIX}"
        )
        click.echo(f"{older} may now be removed")


if __name__ == "__main__":
    node()
