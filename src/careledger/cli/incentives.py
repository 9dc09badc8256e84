"""``careledger incentives``: sponsors, auditors and members against a running node.

Parses options and delegates to :class:`careledger.incentives.client.IncentivesClient`. The node
(``--node`` / ``CARELEDGER_NODE``) is called as a consortium member (``--member ORG.NAME`` from
``--consortium DIR``). Member commands keep the incentive secret in the holder's encrypted
wallet (``--wallet`` / ``CARELEDGER_WALLET``, passphrase as for ``careledger wallet``): the
per-campaign keys and pseudonyms are derived from it and never leave the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import click
import msgspec

from careledger.credentials.errors import WalletError
from careledger.credentials.wallet import Wallet
from careledger.errors import CareLedgerError
from careledger.incentives.client import IncentivesClient
from careledger.incentives.wallet import MemberWallet
from careledger.node.consortium import load_config

PASSPHRASE_ENV = "CARELEDGER_WALLET_PASSPHRASE"  # the same as careledger.cli.wallet
WALLET_KEY = "incentives"
T = TypeVar("T")


class IncentivesCommandError(click.ClickException):
    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def _client(ctx: click.Context) -> IncentivesClient:
    opts = ctx.obj
    if not opts["node"]:
        raise IncentivesCommandError("no node: pass --node URL or set CARELEDGER_NODE")
    org, _, name = str(opts["member"]).partition(".")
    if not org or not name:
        raise IncentivesCommandError("--member is ORG.NAME, e.g. Payer.admin")
    try:
        identity = load_config(opts["consortium"]).member(org, name)
    except (CareLedgerError, OSError, KeyError) as exc:
        raise IncentivesCommandError(f"cannot load member {org}.{name}: {exc}") from exc
    return IncentivesClient(opts["node"], identity)


def _run(ctx: click.Context, work: Callable[[IncentivesClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _client(ctx) as client:
            return await work(client)

    try:
        return asyncio.run(main())
    except (CareLedgerError, OSError) as exc:
        raise IncentivesCommandError(str(exc)) from exc


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def _member_wallet(path: Path | None, create: bool = False) -> MemberWallet:
    if path is None:
        raise IncentivesCommandError("no wallet: pass --wallet FILE or set CARELEDGER_WALLET")
    passphrase = os.environ.get(PASSPHRASE_ENV) or ""
    if not passphrase:
        raise IncentivesCommandError(f"set {PASSPHRASE_ENV} to open the wallet")
    try:
        wallet = Wallet.open(path, passphrase)
        try:
            key = wallet.key(WALLET_KEY)
        except WalletError:
            if not create:
                raise IncentivesCommandError(
                    "this wallet holds no incentive key yet; run `careledger incentives wallet key`"
                ) from None
            key = wallet.new_key(WALLET_KEY)
            wallet.save()
    except WalletError as exc:
        raise IncentivesCommandError(str(exc)) from exc
    return MemberWallet(key.seed)


_wallet_option = click.option(
    "--wallet",
    "wallet_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="CARELEDGER_WALLET",
    help="The holder's encrypted wallet (careledger wallet create).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--node", envvar="CARELEDGER_NODE", default="", help="Node API base URL.")
@click.option(
    "--consortium",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CARELEDGER_CONSORTIUM",
    default=Path("consortium"),
    show_default=True,
    help="Consortium directory holding the member identities.",
)
@click.option(
    "--member",
    envvar="CARELEDGER_MEMBER",
    default="",
    help="Sign requests as ORG.NAME (e.g. Payer.admin).",
)
@click.pass_context
def incentives(ctx: click.Context, node: str, consortium: Path, member: str) -> None:
    """Care-point campaigns: sponsors, auditors and members."""
    ctx.obj = {"node": node, "consortium": consortium, "member": member}


@incentives.command("campaigns")
@click.pass_context
def list_campaigns(ctx: click.Context) -> None:
    """List campaign ids."""
    for name in _run(ctx, lambda c: c.campaigns()):
        click.echo(name)


@incentives.group("campaign")
def campaign() -> None:
    """Create and show campaigns (sponsors)."""


@campaign.command("create")
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def campaign_create(ctx: click.Context, spec_file: Path) -> None:
    """Create a campaign from a JSON spec and escrow its budget (sponsor admin)."""
    from careledger.incentives.sponsors import parse_spec

    try:
        data = json.loads(spec_file.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise IncentivesCommandError(f"cannot read {spec_file}: {exc}") from exc
    if not isinstance(data, dict):
        raise IncentivesCommandError("a campaign spec is a JSON object")
    try:
        spec = parse_spec(data)
    except CareLedgerError as exc:
        raise IncentivesCommandError(str(exc)) from exc
    _echo(_run(ctx, lambda c: c.create_campaign(msgspec.to_builtins(spec))))


@campaign.command("show")
@click.argument("campaign_id")
@click.pass_context
def campaign_show(ctx: click.Context, campaign_id: str) -> None:
    """A campaign's terms (points are never transferable)."""
    _echo(_run(ctx, lambda c: c.campaign(campaign_id)))


@incentives.command("report")
@click.argument("campaign_id")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def report(ctx: click.Context, campaign_id: str, as_json: bool) -> None:
    """Funded, awarded, redeemed, expired, remaining; members suppressed below 11."""
    data = _run(ctx, lambda c: c.report(campaign_id))
    if as_json:
        _echo(data)
        return
    members = data["members"] if data["members"] is not None else "< 11 (suppressed)"
    for key in ("funded", "awarded", "redeemed", "expired", "clawed_back", "remaining"):
        click.echo(f"{key:<12} {data[key]}")
    click.echo(f"{'members':<12} {members}")


@incentives.command("awards")
@click.argument("campaign_id")
@click.pass_context
def awards(ctx: click.Context, campaign_id: str) -> None:
    """The auditor view: every award with its nullifier and evidence digest."""
    _echo(_run(ctx, lambda c: c.awards(campaign_id)))


@incentives.group("sponsor")
def sponsor() -> None:
    """Governance motions allowing an organisation to sponsor (admins)."""


@sponsor.command("propose")
@click.argument("org")
@click.option(
    "--ceiling-cents", type=click.IntRange(1, 10**12), required=True, help="Funding ceiling."
)
@click.pass_context
def sponsor_propose(ctx: click.Context, org: str, ceiling_cents: int) -> None:
    """Propose that ORG may fund campaigns up to the ceiling."""
    _echo(_run(ctx, lambda c: c.propose_sponsor(org, ceiling_cents)))


@sponsor.command("approve")
@click.argument("motion_id")
@click.pass_context
def sponsor_approve(ctx: click.Context, motion_id: str) -> None:
    """Approve a sponsor motion (it applies at a majority of organisations)."""
    _echo(_run(ctx, lambda c: c.approve_sponsor(motion_id)))


@incentives.group("wallet")
def member_wallet() -> None:
    """A member's points, from the holder's wallet."""


@member_wallet.command("key")
@click.argument("campaign_id")
@_wallet_option
def wallet_key(campaign_id: str, wallet_path: Path | None) -> None:
    """The campaign key and pseudonym to give the sponsor (no node needed)."""
    wallet = _member_wallet(wallet_path, create=True)
    _echo(
        {"member_key": wallet.member_key(campaign_id), "pseudonym": wallet.pseudonym(campaign_id)}
    )


@member_wallet.command("show")
@_wallet_option
@click.option("--campaign", "campaign_ids", multiple=True, help="Only this campaign (repeat).")
@click.pass_context
def wallet_show(
    ctx: click.Context, wallet_path: Path | None, campaign_ids: tuple[str, ...]
) -> None:
    """Balances and expiry in every campaign the member has points in."""
    wallet = _member_wallet(wallet_path)

    async def gather(client: IncentivesClient) -> list[dict[str, Any]]:
        names = list(campaign_ids) or await client.campaigns()
        found = []
        for name in names:
            try:
                found.append(await client.account(name, wallet.pseudonym(name)))
            except CareLedgerError:
                continue  # no account in that campaign
        return found

    for acct in _run(ctx, gather):
        expiry = datetime.fromtimestamp(acct["expires_at"] / 1000, UTC).date().isoformat()
        frozen = f", frozen ({acct['frozen']})" if acct.get("frozen") else ""
        click.echo(
            f"{acct['campaign']}: {acct['balance']} points, expire {expiry}, "
            f"not transferable{frozen}"
        )


@member_wallet.command("history")
@click.argument("campaign_id")
@_wallet_option
@click.pass_context
def wallet_history(ctx: click.Context, campaign_id: str, wallet_path: Path | None) -> None:
    """Every change of the member's account in a campaign."""
    wallet = _member_wallet(wallet_path)
    _echo(_run(ctx, lambda c: c.history(campaign_id, wallet.pseudonym(campaign_id))))


@incentives.command("redeem")
@click.argument("campaign_id")
@click.argument("item")
@click.option("--quantity", type=click.IntRange(1, 100), default=1, show_default=True)
@_wallet_option
@click.pass_context
def redeem(
    ctx: click.Context, campaign_id: str, item: str, quantity: int, wallet_path: Path | None
) -> None:
    """Redeem points for catalogue items, signed by the wallet."""
    wallet = _member_wallet(wallet_path)
    _echo(_run(ctx, lambda c: c.redeem(wallet, campaign_id, item, quantity)))
