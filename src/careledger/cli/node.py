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


if __name__ == "__main__":
    node()
