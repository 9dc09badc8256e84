"""The atheris harnesses run (where atheris installs: ``pip install -e '.[fuzz]'``): one short
run in the default suite, every parser for a minute under ``pytest -m slow``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
needs_atheris = pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None, reason="atheris is not installed (.[fuzz])"
)


def _run(parser: str, scratch: Path, *limits: str) -> None:
    harness = HERE / "atheris" / f"fuzz_{parser}.py"
    scratch.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(harness), str(scratch), str(HERE / "corpus" / parser)]
    done = subprocess.run(
        [*argv, "-rss_limit_mb=1024", "-timeout=5", *limits],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done" in done.stderr, done.stderr[-2000:]


def test_every_parser_has_a_harness_and_a_corpus() -> None:
    for parser in TARGETS:
        assert (HERE / "atheris" / f"fuzz_{parser}.py").is_file(), parser
        assert any((HERE / "corpus" / parser).iterdir()), parser


@needs_atheris
def test_atheris_smoke(tmp_path: Path) -> None:
    _run("envelope", tmp_path / "new", "-runs=2000")


@needs_atheris
@pytest.mark.slow
@pytest.mark.parametrize("parser", sorted(TARGETS))
def test_atheris_minute(parser: str, tmp_path: Path) -> None:
    _run(parser, tmp_path / "new", "-max_total_time=60")
