"""Fuzzing the TOML files a node reads: its configuration and the consortium file.

They are written by operators and by tools, and a typo must give a clear ``InvalidInput`` naming
the file — never a traceback from deep in the node.
"""

from __future__ import annotations

import tempfile
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import settings
from hypothesis import strategies as st

from careledger.daemon.config import load_node_config
from careledger.node.consortium import load_config
from tests.fuzz.harness import budgets, fuzz, inputs, seeds

toml_values = st.recursive(
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)
KEYS = [
    "org", "consortium", "data_dir", "member", "did_web_host", "http", "state", "ordering",
    "peers", "fhir", "tls", "name", "orgs", "id", "root_key", "max_tx_count", "batch_timeout_ms",
    "preferred_max_bytes", "orderer", "port", "host", "backend", "servers", "enabled",
]  # fmt: skip


@st.composite
def toml_documents(draw: st.DrawFn) -> bytes:
    """A TOML document of known and unknown keys with values of any type."""
    doc = draw(
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), toml_values, max_size=8)
    )
    return tomli_w.dumps(doc).encode()


@st.composite
def damaged_seed(draw: st.DrawFn, parser: str) -> bytes:
    """A seed file with one setting (top level, in a table, or in an array of tables) replaced by
    a value of another type, or removed."""
    doc: dict[str, Any] = tomllib.loads(draw(st.sampled_from(seeds(parser))).decode())
    for _ in range(draw(st.integers(1, 3))):
        table: Any = doc
        if not table:
            break
        key = draw(st.sampled_from(sorted(table)))
        if isinstance(table[key], dict) and draw(st.booleans()) and table[key]:
            table = table[key]
        elif isinstance(table[key], list) and table[key] and isinstance(table[key][0], dict):
            table = table[key][0]
        key = draw(st.sampled_from(sorted(table) or KEYS) | st.sampled_from(KEYS))
        if draw(st.integers(0, 4)) == 0:
            table.pop(key, None)
        else:
            table[key] = draw(toml_values)
    return tomli_w.dumps(doc).encode()


def _loader(name: str, load: object) -> object:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-toml-"))
    path = folder / name

    def parse(raw: bytes) -> object:
        path.write_bytes(raw)
        return load(path if name.endswith("node.toml") else folder)  # type: ignore[operator]

    return parse


@budgets
def test_node_config(budget: settings) -> None:
    fuzz(
        budget,
        "node_toml",
        _loader("node.toml", load_node_config),
        inputs("node_toml", toml_documents() | damaged_seed("node_toml")),
        # a peer URL with a malformed IPv6 host: urlsplit's ValueError escaped (found by atheris)
        regressions=[
            b'org = "Org1"\nconsortium = "c"\ndata_dir = "d"\n[peers]\nOrg2 = "http://]27.0.0.1:7052"\n',
            b'org = "Org1"\nconsortium = "c"\ndata_dir = "d"\n[fhir]\nbase_url = "http://[x"\n',
        ],
    )


@budgets
def test_consortium_file(budget: settings) -> None:
    fuzz(
        budget,
        "consortium_toml",
        _loader("consortium.toml", load_config),
        inputs("consortium_toml", toml_documents() | damaged_seed("consortium_toml")),
        # [ordering] a scalar: `.get` on a bool escaped as an AttributeError traceback
        regressions=[
            b'name = "c"\nordering = true\n[[orgs]]\nid = "Org1"\nroot_key = "00"\n',
            b'name = "c"\norgs = [1]\n',
        ],
    )
