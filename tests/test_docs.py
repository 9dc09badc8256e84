"""Docs cannot drift: every CLI command and option, and every config setting, is documented."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from careledger.cli.main import cli
from careledger.node.consortium import ConsortiumConfig, save_config

ROOT = Path(__file__).resolve().parent.parent
CLI_DOC = (ROOT / "docs" / "cli.md").read_text()
CONFIG_DOC = (ROOT / "docs" / "configuration.md").read_text()


def _commands(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, path))
    return found


COMMANDS = _commands(cli, "careledger")


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_and_option_is_in_docs_cli(path: str, command: click.Command) -> None:
    assert f"`{path}" in CLI_DOC, f"{path} is not documented in docs/cli.md"
    for param in command.params:
        if isinstance(param, click.Option):
            assert any(f"`{opt}" in CLI_DOC for opt in param.opts), (
                f"option {param.opts} of {path} is not documented in docs/cli.md"
            )


def test_every_consortium_setting_is_in_docs_configuration(tmp_path: Path) -> None:
    import tomllib

    save_config(ConsortiumConfig(tmp_path, "x", []))
    doc = tomllib.loads((tmp_path / "consortium.toml").read_text())
    keys = [k for k in doc if not isinstance(doc[k], dict)]
    keys += [f"{section}.{k}" for section, v in doc.items() if isinstance(v, dict) for k in v]
    keys += ["orgs[].id", "orgs[].name", "orgs[].root_key"]
    for key in keys:
        assert f"`{key}`" in CONFIG_DOC, f"setting {key} is not documented in docs/configuration.md"


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test" in readme
    assert "scripts/test" in ci
