"""``careledger credentials context``: the health JSON-LD context as a file, for verifiers'
document loaders (ACA-Py, Digital Bazaar; see docs/credentials.md).

Writes the shipped bytes unchanged, so the file's SHA-256 is the one in the context's
content-addressed URL (printed on stderr).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from careledger.credentials.health_context import (
    DEFAULT_URL,
    content_addressed_path,
    health_context_bytes,
    health_context_sha256,
)


@click.group("credentials")
def credentials() -> None:
    """Verifiable credentials: material for other verifiers."""


@credentials.command("context")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the context to FILE (default: standard output).",
)
def context(out: Path | None) -> None:
    """Print (or write) the health JSON-LD context, byte for byte as nodes serve it."""
    data = health_context_bytes()
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        try:
            out.write_bytes(data)
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from exc
    click.echo(
        f"{DEFAULT_URL}  sha256 {health_context_sha256()}  (node path {content_addressed_path()})",
        err=True,
    )
