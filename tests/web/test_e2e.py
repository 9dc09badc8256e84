"""End to end in the browser: the patient signs in with their DID and grants consent, the
provider's next load shows the other holders' resources; the patient revokes and the provider's
next load shows them withheld; the patient's access log shows both reads. The operator finds a
block and a transaction from the search box. Afterwards the server log holds no PHI."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.web.network import PHI, WebNetwork, until
from tests.web.pages import login_patient, login_staff


def _sources(page: Page) -> str:
    return page.locator("main").inner_text()


def test_consent_grant_and_revoke_change_what_the_provider_sees(
    browser: Browser, browser_context_args: dict, web: WebNetwork
) -> None:
    patient = browser.new_context(**browser_context_args).new_page()
    provider = browser.new_context(**browser_context_args).new_page()
    login_patient(patient, web.patient.did)
    login_staff(provider, "Org1.client0", "Find a patient")
    provider.get_by_label("Local patient id or DID").fill("web-1")
    provider.get_by_role("button", name="Open record").click()
    expect(provider.get_by_role("heading", name="Patient record", level=1)).to_be_visible()
    expect(provider.locator("main")).to_contain_text("Org2: refused")
    expect(provider.locator("main")).not_to_contain_text("Heart rate at Org2")

    # the patient grants Org1 treatment access to all records
    patient.get_by_role("link", name="Consents").click()
    patient.get_by_label("Recipient").select_option("Org1")
    patient.get_by_label("Valid until (date)").fill("2031-12-31")
    patient.get_by_role("button", name="Grant consent").click()
    expect(patient.get_by_role("status")).to_contain_text("Consent for Org1 granted")
    expect(patient.locator("#consents")).to_contain_text("active")

    def shows_all() -> bool:
        text = _sources(provider)
        return "Heart rate at Org2" in text and "Heart rate at Org3" in text

    until(shows_all, step=provider.reload)
    expect(provider.locator("main")).not_to_contain_text("refused")

    # the patient revokes; the provider's next load is refused by both holders
    patient.get_by_role("button", name="Revoke consent for Org1, TREAT").click()
    expect(patient.get_by_role("status")).to_contain_text("Consent revoked")
    expect(patient.locator("#consents")).to_contain_text("revoked")
    until(lambda: "Org2: refused" in _sources(provider), step=provider.reload)
    expect(provider.locator("main")).not_to_contain_text("Heart rate at Org2")
    expect(provider.locator("main")).to_contain_text("Org3: refused")

    # the patient's access log shows the disclosure and the refusal at each other holder
    patient.get_by_role("link", name="Who accessed my data").click()
    expect(patient.get_by_role("heading", name="Who accessed my data", level=1)).to_be_visible()

    def logged() -> bool:
        rows = patient.locator("#access tbody tr").all_inner_texts()
        disclosed = any("Org2" in r and "disclose" in r and "consent" in r for r in rows)
        denied = any("Org2" in r and "deny" in r and "no-consent" in r for r in rows)
        return disclosed and denied

    until(logged, step=patient.reload)
    csv = patient.request.get("/ui/patient/access.csv")
    assert csv.status == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text().splitlines()
    assert lines[0].startswith("when,holder,requester")
    assert any(",Org2,Org1," in line and ",disclose,consent," in line for line in lines)
    for context_page in (patient, provider):
        for phi in PHI:
            assert phi not in context_page.url
            assert phi not in context_page.title()


def test_break_glass_shows_the_record_and_notifies_the_patient(
    browser: Browser, browser_context_args: dict, web: WebNetwork
) -> None:
    provider = browser.new_context(**browser_context_args).new_page()
    login_staff(provider, "Org1.client0", "Find a patient")
    provider.get_by_label("Local patient id or DID").fill(web.patient.did)
    provider.get_by_role("button", name="Open record").click()
    expect(provider.locator("main")).to_contain_text("Org2: refused")  # no consent now
    provider.get_by_label("Reason").select_option("UNCONSCIOUS")
    provider.get_by_role("button", name="Break the glass").click()
    expect(provider.get_by_role("alert")).to_contain_text("Break-glass access (UNCONSCIOUS)")
    expect(provider.locator("main")).to_contain_text("Heart rate at Org2")
    patient = browser.new_context(**browser_context_args).new_page()
    login_patient(patient, web.patient.did)
    patient.get_by_role("link", name="Who accessed my data").click()
    expect(patient.get_by_role("heading", name="Who accessed my data", level=1)).to_be_visible()
    notices = patient.get_by_role("region", name="Break-glass notices")
    until(lambda: notices.count() == 1 and "UNCONSCIOUS" in notices.inner_text(),
          step=patient.reload)  # fmt: skip
    expect(notices).to_contain_text("Org1 used emergency access at Org2")


def test_search_finds_a_block_and_a_transaction(page: Page, web: WebNetwork) -> None:
    login_staff(page, "Org1.admin", "Explorer")
    network = page.get_by_role("region", name="Network")
    for org in ("Org2", "Org3"):
        expect(network.get_by_role("row", name=re.compile(org))).not_to_contain_text("unreachable")
    page.get_by_role("link", name="State roots").click()
    expect(page.get_by_role("heading", name="State roots across peers")).to_be_visible()
    expect(page.get_by_role("cell", name="NO", exact=True)).to_have_count(0)
    expect(page.get_by_role("cell", name="yes", exact=True).first).to_be_visible()
    search = page.get_by_role("search").first.get_by_role("searchbox")
    search.fill("2")
    search.press("Enter")
    expect(page.get_by_role("heading", name="Block 2", level=1)).to_be_visible()
    link = page.locator("table a[href^='/ui/explorer/tx/']").first
    tx_id = link.get_attribute("href").rsplit("/", 1)[1]
    search = page.get_by_role("search").first.get_by_role("searchbox")
    search.fill(tx_id)
    search.press("Enter")
    expect(page.get_by_role("heading", name="Transaction", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text(tx_id)
    expect(page.locator("main")).to_contain_text("VALID")
    expect(page.get_by_text("Write set")).to_be_visible()


def test_pages_and_forms_work_with_javascript_off(
    browser: Browser, browser_context_args: dict, web: WebNetwork
) -> None:
    page = browser.new_context(**browser_context_args, java_script_enabled=False).new_page()
    login_patient(page, web.patient.did)
    expect(page.get_by_role("heading", name="Demographics")).to_be_visible()
    page.get_by_role("link", name="Consents").click()
    page.get_by_label("Recipient").select_option("Org3")
    page.get_by_label("Valid until (date)").fill("2030-06-30")
    page.get_by_role("button", name="Grant consent").click()
    expect(page.get_by_role("status")).to_contain_text("Consent for Org3 granted")
    page.get_by_role("button", name="Revoke consent for Org3, TREAT").click()
    expect(page.get_by_role("status")).to_contain_text("Consent revoked")
    page.get_by_role("link", name="Who accessed my data").click()
    expect(page.locator("#access")).to_be_visible()


def test_dashboard_figures_refresh_in_place(page: Page, web: WebNetwork) -> None:
    """htmx swaps the dashboard's figures every 5 s; the rest of the page stays."""
    login_staff(page, "Org1.admin", "Explorer")
    with page.expect_response(lambda r: r.url.endswith("/ui/explorer/stats"), timeout=15_000):
        pass
    expect(page.locator("#stats")).to_have_count(1)
    expect(page.get_by_role("heading", name="Explorer", level=1)).to_be_visible()


def test_server_log_holds_no_phi(web: WebNetwork) -> None:
    """Runs after the end-to-end tests (file order): names and birth date never logged."""
    text = web.log_file.read_text()
    assert "HTTP Request" in text  # the log did capture the nodes' traffic
    for phi in PHI:
        assert phi not in text, f"{phi!r} appears in the server log"
