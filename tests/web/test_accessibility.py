"""Accessibility: axe-core (tags wcag2a, wcag2aa, wcag21a, wcag21aa, wcag22aa) finds no
violation on any page, and a keyboard-only walk grants and revokes a consent."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.web.network import WebNetwork
from tests.web.pages import axe_violations, login_patient, login_staff


def _clean(page: Page, axe_source: str, path: str) -> None:
    page.goto(path)
    found = axe_violations(page, axe_source)
    assert found == [], f"{path}: {found}"


def test_every_page_has_no_axe_violation(
    browser: Browser, browser_context_args: dict, web: WebNetwork, axe_source: str
) -> None:
    anonymous = browser.new_context(**browser_context_args).new_page()
    for path in ("/ui/", "/ui/login/patient", "/ui/login/staff"):
        _clean(anonymous, axe_source, path)

    patient = browser.new_context(**browser_context_args).new_page()
    login_patient(patient, web.patient.did)
    for path in ("/ui/patient", "/ui/patient/access", "/ui/patient/consents",
                 "/ui/patient/credentials", "/ui/patient/rewards", "/ui/explorer"):  # fmt: skip
        _clean(patient, axe_source, path)  # the last one: the 403 page

    provider = browser.new_context(**browser_context_args).new_page()
    login_staff(provider, "Org1.client0", "Find a patient")
    _clean(provider, axe_source, "/ui/provider/prior-auth")
    _clean(provider, axe_source, "/ui/provider")
    provider.get_by_label("Local patient id or DID").fill("web-1")
    provider.get_by_role("button", name="Open record").click()
    expect(provider.get_by_role("heading", name="Patient record", level=1)).to_be_visible()
    assert axe_violations(provider, axe_source) == []

    operator = browser.new_context(**browser_context_args).new_page()
    login_staff(operator, "Org1.admin", "Explorer")
    for path in ("/ui/explorer", "/ui/explorer/blocks", "/ui/explorer/blocks/1",
                 "/ui/explorer/governance", "/ui/explorer/peers",
                 "/ui/explorer/search?q=_gov:org/Org1", "/ui/explorer/blocks/999999"):  # fmt: skip
        _clean(operator, axe_source, path)
    operator.goto("/ui/explorer/blocks/1")
    href = operator.locator("table a[href^='/ui/explorer/tx/']").first.get_attribute("href")
    assert href is not None
    _clean(operator, axe_source, href)

    sponsor = browser.new_context(**browser_context_args).new_page()
    login_staff(sponsor, "Org1.admin", "Campaigns", desk="sponsor")
    _clean(sponsor, axe_source, "/ui/sponsor")

    payer = browser.new_context(**browser_context_args).new_page()
    login_staff(payer, "Org1.admin", "Prior authorization review", desk="payer")
    for path in ("/ui/payer", "/ui/payer/decision-times", "/ui/payer/claims",
                 "/ui/payer/remittances", "/ui/payer/directory"):  # fmt: skip
        _clean(payer, axe_source, path)
    # the page that refuses a denial without a reason
    number = web.prior_auths[1]
    payer.goto("/ui/payer")
    payer.locator("article.pa", has_text=number).get_by_role(
        "button", name=f"Deny {number}"
    ).click()
    expect(payer.get_by_role("alert")).to_contain_text("A denial needs a reason")
    assert axe_violations(payer, axe_source) == []


def _tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    target = page.locator(selector)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


def test_keyboard_only_consent_grant_and_revoke(
    browser: Browser, browser_context_args: dict, web: WebNetwork
) -> None:
    page = browser.new_context(**browser_context_args).new_page()
    login_patient(page, web.patient.did)
    page.goto("/ui/patient/consents")
    _tab_to(page, "#grantee")
    page.keyboard.press("ArrowDown")  # Org1 → Org2
    assert page.locator("#grantee").input_value() == "Org2"
    _tab_to(page, "input[name=purpose][value=HRESCH]")
    page.keyboard.press("Space")
    _tab_to(page, "#expires")
    page.keyboard.type("12312031")
    assert page.locator("#expires").input_value() == "2031-12-31"
    _tab_to(page, "form.grant button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Consent for Org2 granted")
    row = page.locator("#consents tbody tr", has_text="Org2").first
    expect(row).to_contain_text("HRESCH")
    expect(row).to_contain_text("active")

    _tab_to(page, "button[aria-label^='Revoke consent for Org2']")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Consent revoked")
    expect(page.locator("#consents tbody tr", has_text="Org2").first).to_contain_text("revoked")
