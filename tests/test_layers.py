"""The package layout keeps its promises: imports run from higher layers to lower ones only, and
no package grows past ~3,000 lines of its own modules without sub-packages.

Read from the source (``ast``), not by importing: an import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "careledger"

# Lower number = lower layer. A module may import its own package and lower layers only.
LAYERS: dict[str, int] = {
    # foundations
    "__init__": 0,
    "errors": 0,
    "aio": 0,
    "sqlite_files": 0,
    "tls": 0,
    "httpguard": 0,
    "crypto": 0,
    # the ledger core
    "identity": 1,
    "ledger": 2,
    "endorsement": 3,
    "contracts": 3,
    "validation": 3,
    "ordering": 4,
    "node": 5,
    # capabilities on the ledger
    "credentials": 6,
    "fhir": 6,
    "api": 7,
    "longitudinal": 8,
    "payer": 8,
    "incentives": 8,
    "web": 9,
    # processes, tools, entry points
    "daemon": 10,
    "netctl": 11,
    "sim": 11,
    "bench": 12,
    "cli": 13,
    "testing": 13,  # deprecated re-exports of netctl, kept for one release
}
LEDGER_CORE = ("crypto", "identity", "ledger", "endorsement", "contracts", "validation", "ordering")
MAX_PACKAGE_LINES = 3000


def _package_of(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def _imports() -> list[tuple[str, str, str]]:
    """(importing package, imported package, where) for every careledger import in src/."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "careledger" and len(parts) > 1:
                    where = f"{path.relative_to(SRC)}:{node.lineno}"
                    found.append((_package_of(path), parts[1], where))
    return found


IMPORTS = _imports()


def test_every_package_has_a_layer() -> None:
    packages = {_package_of(p) for p in SRC.glob("*") if p.suffix == ".py" or p.is_dir()}
    packages.discard("__pycache__")
    assert sorted(packages - LAYERS.keys()) == []


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    back_edges = [
        f"{where}: {src} (layer {LAYERS[src]}) imports {dst} (layer {LAYERS[dst]})"
        for src, dst, where in IMPORTS
        if src != dst and LAYERS[dst] > LAYERS[src]
    ]
    assert back_edges == []


@pytest.mark.parametrize(
    ("lower", "forbidden"),
    [
        ("fhir", ("longitudinal", "node", "api", "daemon")),
        *[(core, ("fhir", "credentials", "node", "longitudinal")) for core in LEDGER_CORE],
    ],
)
def test_named_rules_of_the_layout(lower: str, forbidden: tuple[str, ...]) -> None:
    """The FHIR server never imports the bridge; the ledger core imports no capability."""
    wrong = [where for src, dst, where in IMPORTS if src == lower and dst in forbidden]
    assert wrong == []


def test_the_checker_sees_a_back_edge() -> None:
    """The rule above is not vacuous: the imports it reads include known upward edges."""
    assert ("longitudinal", "fhir") in {(src, dst) for src, dst, _ in IMPORTS}
    assert LAYERS["fhir"] < LAYERS["longitudinal"]


def test_no_package_grows_past_its_budget_without_sub_packages() -> None:
    for package in (p for p in SRC.iterdir() if p.is_dir() and p.name != "__pycache__"):
        own = sum(len(m.read_text(encoding="utf-8").splitlines()) for m in package.glob("*.py"))
        assert own <= MAX_PACKAGE_LINES, f"{package.name}: {own} lines in its own modules"
