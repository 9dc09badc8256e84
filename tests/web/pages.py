"""Helpers the browser tests share: signing in through the login pages, axe-core checks."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def login_patient(page: Page, did: str) -> None:
    page.goto("/ui/login/patient")
    page.get_by_label("Synthetic patient").select_option(did)
    page.get_by_role("button", name="Sign with this demo wallet").click()
    page.get_by_role("heading", name="My record", level=1).wait_for()


def login_staff(page: Page, label: str, home: str, desk: str = "", base: str = "") -> None:
    """Sign in as the demo member ``label`` (at the node ``base``, default the page's base URL)
    at ``desk`` (default: the member's own), and wait for the desk's heading ``home``."""
    page.goto(f"{base}/ui/login/staff")
    page.get_by_label("Member", exact=True).select_option(label)
    if desk:
        page.locator("#demo_desk").select_option(desk)
    page.get_by_role("button", name="Sign with this demo key").click()
    page.get_by_role("heading", name=home, level=1).wait_for()


def axe_violations(page: Page, source: str) -> list[dict[str, Any]]:
    """axe-core's violations on the current page for the WCAG 2.0/2.1/2.2 A and AA tags."""
    page.add_script_tag(content=source)
    result: dict[str, Any] = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        AXE_TAGS,
    )
    assert len(result["passes"]) > 5, "axe-core did not run its checks"
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:160] for n in v["nodes"][:3]]}
        for v in result["violations"]
    ]
