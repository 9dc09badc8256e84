"""docs/security.md names real tests: every ``tests/….py`` and ``::test_…`` it cites exists (a
``::name`` alone belongs to the file cited just before it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "security.md").read_text()
_CITE = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`")


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_test_the_threat_model_cites_exists() -> None:
    missing: list[str] = []
    current: Path | None = None
    cited = 0
    for match in _CITE.finditer(DOC):
        file, name = match.groups()
        if file is None and name is None:
            continue
        if file is not None:
            current = ROOT / file
            if not current.exists():
                missing.append(file)
                continue
        if name is not None:
            assert current is not None, f"::{name} cited before any file"
            cited += 1
            if current.exists() and name not in _functions(current):
                missing.append(f"{current.relative_to(ROOT)}::{name}")
    assert missing == []
    assert cited >= 25
