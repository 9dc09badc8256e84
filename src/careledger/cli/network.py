"""``careledger network up|down|status`` (registered on the root command). Parse and delegate
to :mod:`careledger.netctl`; ``bench network`` is in :mod:`careledger.cli.bench`."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from careledger.daemon.config import ORDERING_BACKENDS
from careledger.errors import CareLedgerError

_DIR = click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The network's directory (configs, data, PID files, logs).",
)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def network() -> None:
    """A multi-process network on this machine: NATS cluster and one node per organisation."""


@network.command("up")
@_DIR
@click.option(
    "--orgs",
    "org_count",
    type=click.IntRange(1, 32),
    default=None,
    help="Organisations (Org1..OrgN) of a new network [default: 3].",
)
@click.option(
    "--ordering",
    type=click.Choice(ORDERING_BACKENDS),
    default="jetstream",
    show_default=True,
    help="Ordering backend of a new network (embedded-solo: one org only).",
)
@click.option(
    "--tls/--no-tls",
    default=None,
    help="A new network with mutual TLS everywhere (local CA in DIR/tls) [default: no TLS].",
)
def up(directory: Path, org_count: int | None, ordering: str, tls: bool | None) -> None:
    """Start the network in DIR (creating it on first use; resuming its data after)."""
    from careledger.netctl.control import up as network_up
    from careledger.netctl.layout import NetworkLayout

    orgs = None if org_count is None else [f"Org{i}" for i in range(1, org_count + 1)]
    try:
        spec = network_up(NetworkLayout(directory), orgs, ordering, tls=tls)
    except (CareLedgerError, NotImplementedError, OSError) as exc:
        _fail(str(exc))
    for org in spec.orgs:
        click.echo(f"{org}: {spec.url(org)}")


@network.command("down")
@_DIR
def down(directory: Path) -> None:
    """Stop every process of the network in DIR (data is kept)."""
    from careledger.netctl.control import down as network_down
    from careledger.netctl.layout import NetworkLayout

    try:
        stopped = network_down(NetworkLayout(directory))
    except CareLedgerError as exc:
        _fail(str(exc))
    click.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@network.command("status")
@_DIR
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(directory: Path, as_json: bool) -> None:
    """Height and state root of every node, health of every NATS server; exit status 1 if one
    is down or the nodes disagree."""
    from careledger.netctl.control import nats_status
    from careledger.netctl.control import status as network_status
    from careledger.netctl.layout import NetworkLayout

    layout = NetworkLayout(directory)
    try:
        nodes = asyncio.run(network_status(layout))
        servers = nats_status(layout)
    except CareLedgerError as exc:
        _fail(str(exc))
    if as_json:
        doc = {"nodes": [asdict(n) for n in nodes], "nats": [asdict(s) for s in servers]}
        click.echo(json.dumps(doc, indent=2))
    else:
        for n in nodes:
            if n.error:
                click.echo(f"{n.org:<8} pid {n.pid or '-':<8} {n.url}  DOWN: {n.error}")
            else:
                click.echo(
                    f"{n.org:<8} pid {n.pid:<8} {n.url}  height {n.height}  "
                    f"state root {n.state_root}"
                )
        for s in servers:
            health = "healthy" if s.healthy else f"DOWN: {s.error}"
            click.echo(f"{s.name:<8} pid {s.pid or '-':<8} {s.url}  {health}")
    heights = {(n.height, n.state_root) for n in nodes}
    if any(n.error for n in nodes) or len(heights) > 1 or not all(s.healthy for s in servers):
        sys.exit(1)
