"""Browser tests of the web UI: Debian's chromium driven by Playwright (pytest-playwright)
against real uvicorn nodes on 127.0.0.1 (:mod:`tests.web.network`).

Playwright's own browser download is not reachable here, so the system chromium is launched
(``executable_path``); ``scripts/test`` installs it with apt when missing. Every context
bypasses the pages' Content-Security-Policy only so that axe-core can be injected.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from careledger.node.consortium import init_consortium
from tests.harness import TEST_CUTTER
from tests.web.network import ORGS, WebNetwork

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last in the session: Playwright's sync API keeps an event loop running
    on the main thread until the session ends, and ``asyncio.run`` refuses to start under it."""
    browser = {"page", "browser", "context"}

    def drives_a_browser(item: pytest.Item) -> bool:
        return bool(browser & set(getattr(item, "fixturenames", ())))

    items[:] = [i for i in items if not drives_a_browser(i)] + [
        i for i in items if drives_a_browser(i)
    ]


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    if not Path(CHROMIUM).exists():  # scripts/test installs it (apt-get install -y chromium)
        if os.environ.get("CARELEDGER_REQUIRE_BROWSER") == "1":  # CI: never skip silently
            pytest.fail(f"CARELEDGER_REQUIRE_BROWSER=1 but {CHROMIUM} is missing", pytrace=False)
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return {
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any], base_url: str) -> dict[str, Any]:
    return {
        **browser_context_args,
        "base_url": base_url,
        "bypass_csp": True,
        "locale": "en-US",
        "timezone_id": "UTC",
    }


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebNetwork]:
    directory = tmp_path_factory.mktemp("web")
    consortium = init_consortium(directory / "consortium", list(ORGS), cutter=TEST_CUTTER)
    network = WebNetwork(consortium, directory / "server.log")
    network.start()
    try:
        yield network
    finally:
        network.stop()


@pytest.fixture(scope="session")
def base_url(web: WebNetwork) -> str:
    return web.url


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        if shutil.which("npm") is None:
            pytest.skip("axe-core is missing (npm ci --prefix tests/web) and npm is not here")
        pytest.fail("axe-core is missing: npm ci --prefix tests/web --no-audit --no-fund")
    return AXE.read_text()
