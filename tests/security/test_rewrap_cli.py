"""``careledger node rewrap-keys``: the operator's entry to the FHIR master key rotation."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from careledger.cli.main import cli
from careledger.daemon.config import FhirSettings, NodeConfig, save_node_config
from careledger.daemon.process import fhir_paths
from careledger.fhir.service import FhirService
from careledger.fhir.store.envelope import MasterKey
from careledger.fhir.store.sqlite import SQLiteResourceStore
from careledger.node.consortium import ConsortiumConfig

ENV = "CARELEDGER_TEST_ROTATE_KEY"


def _text() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def test_rewrap_keys_checks_then_rewraps_then_reports_none_left(
    consortium: ConsortiumConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = NodeConfig(
        org="Org1",
        consortium=consortium.dir,
        data_dir=tmp_path / "data",
        fhir=FhirSettings(enabled=True, master_key_env=ENV),
    )
    path = tmp_path / "org1.toml"
    save_node_config(config, path)
    old, new = _text(), _text()
    store_path, _, _ = fhir_paths(config.fhir, config.data_dir)
    store_path.parent.mkdir(parents=True)
    store = SQLiteResourceStore(store_path, MasterKey.from_text(old))
    service = FhirService(store, base_url="http://x/fhir")
    for family in ("Alpha", "Beta", "Gamma"):
        service.create("Patient", {"resourceType": "Patient", "name": [{"family": family}]})
    store.close()

    monkeypatch.setenv(ENV, new)
    monkeypatch.setenv(f"{ENV}_PREVIOUS", old)
    runner = CliRunner()
    args = ["node", "rewrap-keys", "--config", str(path)]
    check = runner.invoke(cli, [*args, "--check"])
    assert check.exit_code == 1, check.output
    assert check.output.startswith("3 patient keys under older master keys")
    done = runner.invoke(cli, [*args, "--batch", "2"])
    assert done.exit_code == 0, done.output
    assert "re-wrapped 3 patient keys in 2 batches" in done.output
    assert f"{ENV}_PREVIOUS may now be removed" in done.output
    assert runner.invoke(cli, [*args, "--check"]).exit_code == 0
    assert old not in done.output
    assert new not in done.output

    monkeypatch.delenv(f"{ENV}_PREVIOUS")
    reopened = SQLiteResourceStore(store_path, MasterKey.from_text(new))
    try:
        assert FhirService(reopened, base_url="http://x/fhir").search("Patient", [])["total"] == 3
    finally:
        reopened.close()


def test_rewrap_keys_without_a_fhir_store_is_a_clear_error(
    consortium: ConsortiumConfig, tmp_path: Path
) -> None:
    path = tmp_path / "org1.toml"
    save_node_config(NodeConfig(org="Org1", consortium=consortium.dir, data_dir=tmp_path), path)
    result = CliRunner().invoke(cli, ["node", "rewrap-keys", "--config", str(path)])
    assert result.exit_code == 2
    assert "no FHIR store" in result.output
