"""The dependency audit's policy (scripts/audit): findings fail, ignores expire, an audit that
could not run is a printed skip, never a silent pass."""

from __future__ import annotations

import datetime
import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit"
TODAY = datetime.date(2026, 12, 2)


def _audit() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("careledger_audit", str(SCRIPT))
    spec = importlib.util.spec_from_loader("careledger_audit", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


AUDIT = _audit()


def _report(*deps: dict[str, Any]) -> dict[str, Any]:
    return {"dependencies": [{"name": "careledger", "skip_reason": "editable"}, *deps]}


def test_a_finding_is_reported_unless_ignored_by_id_or_alias() -> None:
    vuln = {"id": "GHSA-aaaa", "aliases": ["CVE-2026-1"], "fix_versions": ["2.0.1"]}
    report = _report(
        {"name": "httpx", "version": "0.28.1", "vulns": []},
        {"name": "example", "version": "2.0.0", "vulns": [vuln]},
    )
    findings, skipped, audited = AUDIT.judge(report, {})
    assert findings == ["example 2.0.0: GHSA-aaaa (fixed in 2.0.1)"]
    assert (skipped, audited) == ([], 2)
    assert AUDIT.judge(report, {"CVE-2026-1": {}})[0] == []


def test_packages_the_service_could_not_audit_are_counted_not_passed() -> None:
    report = _report({"name": "httpx", "skip_reason": "Dependency not found on PyPI"})
    findings, skipped, audited = AUDIT.judge(report, {})
    assert (findings, audited) == ([], 0)
    assert skipped == ["Dependency not found on PyPI"]


def test_ignores_need_a_reason_and_expire(tmp_path: Path) -> None:
    path = tmp_path / "ignores.toml"
    path.write_text(
        "[[ignore]]\nid = 'GHSA-ok'\npackage = 'a'\nreason = 'unused path'\nexpires = 2027-01-15\n"
        "[[ignore]]\nid = 'GHSA-old'\npackage = 'b'\nreason = 'x'\nexpires = 2026-11-30\n"
        "[[ignore]]\nid = 'GHSA-far'\npackage = 'c'\nreason = 'x'\nexpires = 2027-12-31\n"
        "[[ignore]]\nid = 'GHSA-why'\npackage = 'd'\nexpires = 2027-01-01\n"
    )
    active, problems = AUDIT.load_ignores(path, TODAY)
    assert list(active) == ["GHSA-ok"]
    assert len(problems) == 3
    assert any("GHSA-old (b) expired on 2026-11-30" in p for p in problems)
    assert any("GHSA-far" in p and "90 days" in p for p in problems)


def test_the_repository_s_ignores_are_all_in_force() -> None:
    _active, problems = AUDIT.load_ignores(AUDIT.IGNORES, datetime.date.today())
    assert problems == []
