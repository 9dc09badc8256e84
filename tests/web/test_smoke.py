"""The system chromium starts under Playwright and reaches a node's UI."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.web.network import WebNetwork


def test_browser_version_and_start_page(browser: Browser, page: Page, web: WebNetwork) -> None:
    print(f"browser: chromium {browser.version}")
    assert browser.version.split(".")[0].isdigit()
    page.goto("/ui/")
    expect(page).to_have_title("CareLedger · CareLedger Org1")
    expect(
        page.get_by_role("link", name="I am a patient: sign in with my wallet (DID)")
    ).to_be_visible()
