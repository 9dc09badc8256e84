"""The node configuration file: round trip, refusal of bad settings, documented settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from careledger.daemon.config import (
    NodeConfig,
    OrderingSettings,
    StateSettings,
    TlsSettings,
    load_node_config,
    save_node_config,
)
from careledger.errors import InvalidInput
from careledger.tls import issue_certificate, make_local_ca

DOC = (Path(__file__).resolve().parents[2] / "docs" / "network.md").read_text()


def _config(tmp_path: Path) -> NodeConfig:
    return NodeConfig(
        org="Org1",
        consortium=tmp_path / "consortium",
        data_dir=tmp_path / "data" / "Org1",
        peers={"Org2": "http://127.0.0.1:7052"},
        ordering=OrderingSettings(backend="embedded-solo"),
    )


def test_round_trip_with_relative_paths(tmp_path: Path) -> None:
    config = _config(tmp_path)
    path = tmp_path / "nodes" / "Org1.toml"
    path.parent.mkdir()
    save_node_config(config, path)
    assert 'consortium = "../consortium"' in path.read_text()
    assert load_node_config(path) == dataclasses.replace(
        config, consortium=config.consortium.resolve(), data_dir=config.data_dir.resolve()
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ('org = "1bad"', "org"),
        ("[http]\nport = 70000", "port"),
        ('[http]\nport = "80"', "port"),
        ('[state]\nbackend = "mysql"', "state.backend"),
        ('[state]\nbackend = "postgres"', "dsn"),
        ('[ordering]\nbackend = "raft"', "ordering.backend"),
        ("[ordering]\nbroadcast_timeout = 0", "ordering.broadcast_timeout"),
        ('[ordering]\nbroadcast_timeout = "15"', "broadcast_timeout must be float"),
        ('[peers]\nOrg2 = "ftp://x"', "peers.Org2"),
        ('[tls]\ncert = "x.crt"', "tls.cert and tls.key go together"),
        ("[tls]\nrequire_client_cert = true", "needs tls.cert"),
        ('[tls]\ncert = "x.crt"\nkey = "x.key"', "tls.cert: no file"),
        ("colour = 1", "unknown"),
        ("[http]\ntls = true", "unknown"),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, edit: str, message: str) -> None:
    base = 'org = "Org1"\nconsortium = "c"\ndata_dir = "d"\n'
    path = tmp_path / "node.toml"
    text = base.replace('org = "Org1"\n', "") + edit if edit.startswith("org") else base + edit
    path.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        load_node_config(path)


def test_a_whole_number_of_seconds_is_a_float_setting(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        'org = "Org1"\nconsortium = "c"\ndata_dir = "d"\n[ordering]\nbroadcast_timeout = 30\n'
    )
    assert load_node_config(path).ordering.broadcast_timeout == 30.0


def test_every_setting_is_documented(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    save_node_config(_config(tmp_path), path)
    import tomllib

    doc = tomllib.loads(path.read_text())
    keys = [k for k, v in doc.items() if not isinstance(v, dict)]
    keys += [f"{s}.{k}" for s, v in doc.items() if isinstance(v, dict) and s != "peers" for k in v]
    for key in keys:
        assert f"`{key}`" in DOC, f"node setting {key} is not documented in docs/network.md"
    assert StateSettings().backend == "sqlite"


def test_tls_settings_round_trip_relative_and_are_documented(tmp_path: Path) -> None:
    ca, ca_key = make_local_ca(tmp_path / "tls")
    files = issue_certificate(ca, ca_key, tmp_path / "tls", "Org1")
    tls = TlsSettings(str(files.cert), str(files.key), str(ca), require_client_cert=True)
    config = dataclasses.replace(_config(tmp_path), tls=tls)
    path = tmp_path / "nodes" / "Org1.toml"
    path.parent.mkdir()
    save_node_config(config, path)
    assert 'cert = "../tls/Org1.crt"' in path.read_text()
    loaded = load_node_config(path)
    assert loaded.tls == tls
    assert loaded.tls.serves_https
    for key in ("cert", "key", "ca", "require_client_cert"):
        assert f"`tls.{key}`" in DOC, f"node setting tls.{key} is not documented"
