"""Key material is written private to its owner and refused when others could read it."""

from __future__ import annotations

import re
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careledger.crypto.keyfiles import InsecureKeyFile, read_secret, write_secret
from careledger.daemon.config import OrderingSettings
from careledger.daemon.ordering_setup import jetstream_settings
from careledger.daemon.process import holder_secret
from careledger.netctl.nats_credentials import new_user_seed
from careledger.node.consortium import ConsortiumConfig, init_consortium
from careledger.tls import local_node_certificates, server_context


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_every_key_0600_in_0700_directories(tmp_path: Path) -> None:
    config = init_consortium(tmp_path / "c", ["Org1", "Org2"])
    keys = sorted((tmp_path / "c" / "orgs").rglob("*.key"))
    assert len(keys) == 2 * 5  # a root key and four members per organisation
    assert {_mode(k) for k in keys} == {0o600}
    assert {_mode(d) for d in (tmp_path / "c" / "orgs").rglob("*") if d.is_dir()} == {0o700}
    assert config.member("Org1", "client0").org == "Org1"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_a_member_key_others_may_read_is_refused_naming_the_file_and_the_fix(
    consortium: ConsortiumConfig, mode: int
) -> None:
    path = consortium.org_dir("Org1") / "members" / "client0.key"
    path.chmod(mode)
    named = re.escape(str(path))
    with pytest.raises(InsecureKeyFile, match=f"{named}.*chmod 600 {named}"):
        consortium.member("Org1", "client0")
    with pytest.raises(InsecureKeyFile):
        read_secret(path)
    path.chmod(0o600)
    assert consortium.member("Org1", "client0").org == "Org1"


def test_a_root_key_others_may_read_is_refused(consortium: ConsortiumConfig) -> None:
    (consortium.org_dir("Org2") / "ca.key").chmod(0o644)
    with pytest.raises(InsecureKeyFile, match=r"ca\.key"):
        consortium.root_key("Org2")


def test_write_secret_tightens_an_existing_loose_file(tmp_path: Path) -> None:
    path = tmp_path / "loose.key"
    path.write_text("old")
    path.chmod(0o666)
    write_secret(path, "new")
    assert _mode(path) == 0o600
    assert read_secret(path) == b"new"


def test_tls_private_keys_are_private_and_a_loose_one_is_refused(tmp_path: Path) -> None:
    nodes, client = local_node_certificates(tmp_path / "tls", ["Org1"])
    assert _mode(nodes["Org1"].key) == _mode(client.key) == 0o600
    assert _mode(tmp_path / "tls" / "ca.key") == 0o600
    server_context(nodes["Org1"])
    nodes["Org1"].key.chmod(0o644)
    with pytest.raises(InsecureKeyFile, match=r"Org1\.key"):
        server_context(nodes["Org1"])


def test_the_fhir_holder_secret_is_created_private_and_refused_when_loose(tmp_path: Path) -> None:
    path = tmp_path / "node" / "fhir-holder.secret"
    secret = holder_secret(path)
    assert _mode(path) == 0o600
    assert holder_secret(path) == secret
    path.chmod(0o640)
    with pytest.raises(InsecureKeyFile):
        holder_secret(path)


def test_tls_directories_are_private(tmp_path: Path) -> None:
    local_node_certificates(tmp_path / "tls", ["Org1"])
    assert _mode(tmp_path / "tls") == _mode(tmp_path / "tls" / "orgs") == 0o700


def test_a_node_refuses_a_nats_seed_others_may_read(tmp_path: Path) -> None:
    seed = tmp_path / "nats.nk"
    new_user_seed(seed)
    settings = OrderingSettings(servers=("nats://127.0.0.1:4222",), nkey_seed=str(seed))
    assert jetstream_settings(settings).extra["nkeys_seed"] == str(seed)
    seed.chmod(0o644)
    with pytest.raises(InsecureKeyFile, match=r"nats\.nk"):
        jetstream_settings(settings)


@given(mode=st.integers(min_value=0o400, max_value=0o777))
@settings(max_examples=60, deadline=None)
def test_a_key_file_is_read_exactly_when_only_its_owner_has_access(mode: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = write_secret(Path(directory) / "k.key", "seed")
        path.chmod(mode)
        if mode & 0o077:
            with pytest.raises(InsecureKeyFile):
                read_secret(path)
        else:
            assert read_secret(path) == b"seed"
