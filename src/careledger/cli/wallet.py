"""``careledger wallet``: a holder's encrypted wallet from the command line.

Parses options and delegates to :class:`careledger.credentials.wallet.Wallet`. The passphrase comes
from ``CARELEDGER_WALLET_PASSPHRASE`` when set (scripts, CI), otherwise from a hidden prompt.
``serve`` runs the wallet's REST API (:mod:`careledger.api.wallet_app`) with uvicorn.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

import click

from careledger.api.wallet_app import (
    DEFAULT_WALLET_PORT,
    TOKEN_ENV,
    check_loopback,
    check_token,
    create_wallet_app,
    new_token,
)
from careledger.contracts.dids import did_for_key
from careledger.credentials.errors import WalletError
from careledger.credentials.request import PresentationRequest
from careledger.credentials.wallet import Wallet
from careledger.errors import CareLedgerError

PASSPHRASE_ENV = "CARELEDGER_WALLET_PASSPHRASE"
WALLET_ENV = "CARELEDGER_WALLET"
HOLDER_KEY = "holder"  # the same alias as careledger.api.wallet_app.HOLDER_KEY


class WalletCommandError(click.ClickException):
    """Bad input or an unusable wallet: an ``error:`` line and exit status 2, like every command."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def _passphrase(confirm: bool) -> str:
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    try:
        text: str = click.prompt(
            "Wallet passphrase", hide_input=True, confirmation_prompt=confirm, err=True
        )
    except click.Abort as exc:
        raise WalletCommandError(
            f"no passphrase: set {PASSPHRASE_ENV} or run in a terminal"
        ) from exc
    return text


def _path(ctx: click.Context) -> Path:
    path: Path = ctx.obj["wallet_path"]
    return path


def _open(ctx: click.Context) -> Wallet:
    path = _path(ctx)
    if not path.exists():
        raise WalletCommandError(f"no wallet at {path}; create one with `careledger wallet create`")
    try:
        return Wallet.open(path, _passphrase(confirm=False))
    except WalletError as exc:
        raise WalletCommandError(str(exc)) from exc


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise WalletCommandError(f"cannot read {path}: {exc}") from exc


@click.group()
@click.option(
    "--wallet",
    "wallet_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=WALLET_ENV,
    default="careledger-wallet.json",
    show_default=True,
    help=f"Wallet file (or set {WALLET_ENV}).",
)
@click.pass_context
def wallet(ctx: click.Context, wallet_path: Path) -> None:
    """A holder's wallet: keys and credentials encrypted at rest, minimal presentations.

    The passphrase is read from CARELEDGER_WALLET_PASSPHRASE, or prompted for.
    """
    ctx.ensure_object(dict)["wallet_path"] = wallet_path


@wallet.command()
@click.pass_context
def create(ctx: click.Context) -> None:
    """Create a new wallet file with a holder key."""
    path = _path(ctx)
    try:
        created = Wallet.create(path, _passphrase(confirm=True))
        holder = created.new_key(HOLDER_KEY)
        created.save()
    except WalletError as exc:
        raise WalletCommandError(str(exc)) from exc
    click.echo(f"created wallet {path}")
    click.echo(f"holder DID: {holder.did_key}")


@wallet.command()
@click.option(
    "--method",
    type=click.Choice(["key", "careledger"]),
    default="key",
    show_default=True,
    help="did:key, or the did:careledger this key creates when anchored on the ledger.",
)
@click.pass_context
def did(ctx: click.Context, method: str) -> None:
    """Print the holder's DID."""
    holder = _open(ctx).key(HOLDER_KEY)
    if method == "key":
        click.echo(holder.did_key)
    else:
        click.echo(did_for_key(holder.public_key.multikey))


@wallet.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def import_credential(ctx: click.Context, file: Path) -> None:
    """Store a credential from FILE: an SD-JWT VC (compact text) or a VC (JSON)."""
    text = _read(file)
    opened = _open(ctx)
    try:
        if text.startswith("{"):
            document = json.loads(text)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            stored = opened.add_vc(document)
        else:
            stored = opened.add_sd_jwt(text)
    except (CareLedgerError, ValueError) as exc:
        raise WalletCommandError(f"{file} is not a credential: {exc}") from exc
    opened.save()
    click.echo(f"stored {stored.type} ({stored.format}) as {stored.id}")


@wallet.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def list_credentials(ctx: click.Context, as_json: bool) -> None:
    """List stored credentials (id, format, type)."""
    rows = [{"id": c.id, "format": c.format, "type": c.type} for c in _open(ctx).credentials()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no credentials")
    for row in rows:
        click.echo(f"{row['id']}  {row['format']:<7} {row['type']}")


@wallet.command()
@click.option(
    "--request",
    "request_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A presentation request (JSON: credential_type, claims, aud, nonce, iat).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the presentation here instead of standard output.",
)
@click.pass_context
def present(ctx: click.Context, request_file: Path, out: Path | None) -> None:
    """Answer a presentation request, disclosing only the requested claims."""
    try:
        data: Any = json.loads(_read(request_file))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        request = PresentationRequest.from_json(data)
    except (CareLedgerError, ValueError) as exc:
        raise WalletCommandError(f"{request_file} is not a presentation request: {exc}") from exc
    try:
        presentation = _open(ctx).present(request)
    except WalletError as exc:
        raise WalletCommandError(str(exc)) from exc
    if out is None:
        click.echo(presentation)
        return
    out.write_text(presentation + "\n", "utf-8")
    click.echo(f"wrote a presentation disclosing {', '.join(request.claims)} to {out}", err=True)


@wallet.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Loopback address to listen on (a non-loopback address is refused).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_WALLET_PORT,
    show_default=True,
    help="TCP port to listen on.",
)
@click.option(
    "--wallet",
    "wallet_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Wallet file to serve (overrides the group's --wallet).",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, wallet_file: Path | None) -> None:
    """Serve the wallet's REST API on 127.0.0.1, behind a bearer token, until Ctrl-C.

    The token is read from CARELEDGER_WALLET_TOKEN, or generated and printed at start.
    """
    import uvicorn

    if wallet_file is not None:
        ctx.obj["wallet_path"] = wallet_file
    given = os.environ.get(TOKEN_ENV)
    try:
        check_loopback(host)
        token = check_token(given) if given else new_token()
    except CareLedgerError as exc:
        raise WalletCommandError(str(exc)) from exc
    opened = _open(ctx)
    try:
        app = create_wallet_app(opened, token, holder_key=HOLDER_KEY)
    except WalletError as exc:
        raise WalletCommandError(str(exc)) from exc
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"serving wallet {_path(ctx)} on http://{shown}:{port} (Ctrl-C stops)", err=True)
    if given:
        click.echo(f"bearer token: from {TOKEN_ENV}", err=True)
    else:
        click.echo(f"bearer token: {token}")
    uvicorn.run(app, host=host, port=port, lifespan="off", log_level="warning", access_log=False)
