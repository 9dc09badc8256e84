"""Security in the browser: each role's pages answer 403 to the others, forms without the
session's CSRF token are refused, user text is escaped, and nothing personal is in a URL."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.network import XSS, WebNetwork
from tests.web.pages import login_patient, login_staff

PAGES = {
    "patient": ["/ui/patient", "/ui/patient/access", "/ui/patient/access.csv",
                "/ui/patient/consents", "/ui/patient/credentials"],
    "provider": ["/ui/provider", "/ui/provider/record", "/ui/provider/prior-auth"],
    "operator": ["/ui/explorer", "/ui/explorer/blocks", "/ui/explorer/blocks/0",
                 "/ui/explorer/governance", "/ui/explorer/peers",
                 "/ui/explorer/search?q=consent:nothing"],
    "payer": ["/ui/payer", "/ui/payer/decision-times", "/ui/payer/claims",
              "/ui/payer/remittances", "/ui/payer/directory"],
    "sponsor": ["/ui/sponsor"],
}  # fmt: skip


def _login(page: Page, web: WebNetwork, role: str) -> None:
    if role == "patient":
        login_patient(page, web.patient.did)
    elif role == "provider":
        login_staff(page, "Org1.client0", "Find a patient")
    elif role == "payer":
        login_staff(page, "Org1.client0", "Prior authorization review", desk="payer")
    else:
        login_staff(page, "Org1.admin", "Explorer")


@pytest.mark.parametrize("role", ["patient", "provider", "operator", "payer"])
def test_each_roles_pages_are_403_to_the_others(page: Page, web: WebNetwork, role: str) -> None:
    _login(page, web, role)
    for owner, paths in PAGES.items():
        for path in paths:
            reply = page.request.get(path, max_redirects=0)
            if owner == role and path == "/ui/provider/record":  # no patient chosen yet
                assert (reply.status, reply.headers["location"]) == (303, "/ui/provider")
            elif owner == role:
                assert reply.status == 200, (role, path, reply.status)
            else:
                assert reply.status == 403, (role, path, reply.status)
                assert "CareLedger" in reply.text()


def test_anonymous_visitors_are_sent_to_sign_in(page: Page, web: WebNetwork) -> None:
    for path in ("/ui/patient", "/ui/explorer", "/ui/provider/record"):
        reply = page.request.get(path, max_redirects=0)
        assert reply.status == 303
        assert reply.headers["location"].startswith("/ui/login/")


def test_forms_without_a_valid_csrf_token_are_refused(page: Page, web: WebNetwork) -> None:
    login_patient(page, web.patient.did)
    page.goto("/ui/patient/consents")
    before = page.locator("#consents tbody tr").count()
    form = {"grantee": "Org2", "purpose": "TREAT", "scope": "all", "expires": "2031-01-01"}
    for token in (None, "forged-token"):
        data = form if token is None else {**form, "csrf": token}
        reply = page.request.post("/ui/patient/consents", form=data)
        assert reply.status == 403
        assert "CSRF" in reply.text()
    page.goto("/ui/patient/consents")
    expect(page.locator("#consents tbody tr")).to_have_count(before)
    # the login and logout forms too
    for path in ("/ui/login/patient", "/ui/login/staff", "/ui/logout"):
        assert page.request.post(path, form={"demo_did": web.patient.did}).status == 403


def test_the_decide_form_without_a_valid_csrf_token_is_refused(page: Page, web: WebNetwork) -> None:
    number = web.prior_auths[1]
    login_staff(page, "Org1.admin", "Prior authorization review", desk="payer")
    form = {"number": number, "action": "A1"}
    for token in (None, "forged-token"):
        data = form if token is None else {**form, "csrf": token}
        reply = page.request.post("/ui/payer/prior-auth/decide", form=data)
        assert reply.status == 403
        assert "CSRF" in reply.text()
    page.goto("/ui/payer")
    expect(page.locator("article.pa", has_text=number)).to_be_visible()  # still pended


def test_xss_in_a_prior_authorization_name_renders_as_text(page: Page, web: WebNetwork) -> None:
    login_staff(page, "Org1.admin", "Prior authorization review", desk="payer")
    item = page.locator("article.pa", has_text=web.prior_auths[1])
    expect(item).to_contain_text(XSS)
    assert page.locator("main img").count() == 0
    assert page.evaluate("() => window.__xss") is None


def test_xss_in_a_fhir_name_renders_as_text(
    browser: Browser, browser_context_args: dict, web: WebNetwork
) -> None:
    page = browser.new_context(**browser_context_args).new_page()
    login_staff(page, "Org1.client0", "Find a patient")
    page.get_by_label("Local patient id or DID").fill("web-1")
    page.get_by_role("button", name="Open record").click()
    demographics = page.get_by_role("region", name="Demographics")
    expect(demographics).to_contain_text(XSS)
    assert page.locator("main img").count() == 0
    assert page.evaluate("() => window.__xss") is None
    assert "web-1" not in page.url


def test_cookies_and_headers(page: Page, web: WebNetwork) -> None:
    login_patient(page, web.patient.did)
    cookie = next(c for c in page.context.cookies() if c["name"] == "careledger_ui")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/ui"
    assert cookie["secure"] is False  # plain http on 127.0.0.1; Secure whenever the node has TLS
    reply = page.request.get("/ui/patient")
    assert "script-src 'self'" in reply.headers["content-security-policy"]
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["x-frame-options"] == "DENY"
