"""Prints how many cases the fuzzers ran (the figures docs/robustness.md records)."""

from __future__ import annotations

import sys

import pytest

from tests.fuzz.harness import CASES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    failed = len(terminalreporter.stats.get("failed", []))
    if CASES:
        total = sum(CASES.values())
        terminalreporter.write_sep("-", f"parser fuzzing: {total} cases, {failed} failed tests")
        for parser, count in sorted(CASES.items()):
            terminalreporter.write_line(f"  {parser}: {count}")
    api = sys.modules.get("tests.fuzz.test_api_schemathesis")
    sent = getattr(api, "SENT", None)
    if sent:
        terminalreporter.write_sep("-", f"API fuzzing: {sum(sent.values())} requests")
        for key, count in sorted(sent.items()):
            terminalreporter.write_line(f"  {key}: {count}")
