"""End to end in the browser: a prior authorization Org2 asked of Org1 waits pended on Org1's
payer desk with its deadline; the payer's staff deny it — refused without a reason, nothing
written, then recorded with one — and Org2's clinician sees the decision on Org2's own node;
the decision shows on the decision-time plot."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.web.network import WebNetwork, until
from tests.web.pages import login_staff


def test_a_pended_request_is_decided_at_the_payer_desk_and_the_provider_sees_it(
    browser: Browser, browser_context_args: dict, web: WebNetwork
) -> None:
    number = web.prior_auths[0]
    payer = browser.new_context(**browser_context_args).new_page()
    login_staff(payer, "Org1.admin", "Prior authorization review", desk="payer")
    item = payer.locator("article.pa", has_text=number)
    expect(item).to_contain_text("standard")
    expect(item).to_contain_text(" left")  # 7 days from the request, counting down
    expect(item).to_contain_text("HC:72148")
    assert number not in payer.url

    # a denial without a reason is refused on the page and nothing reaches the ledger
    item.get_by_role("button", name=f"Deny {number}").click()
    expect(payer.get_by_role("alert")).to_contain_text("A denial needs a reason")
    item = payer.locator("article.pa", has_text=number)
    expect(item).to_be_visible()
    expect(payer.locator("#decided")).not_to_contain_text(number)

    item.get_by_label("Reason code").fill("0U")
    item.get_by_label("Explanation").fill("Conservative therapy first.")
    item.get_by_role("button", name=f"Deny {number}").click()
    expect(payer.get_by_role("status")).to_contain_text(f"{number}: denied.")
    expect(payer.locator("#decided tr", has_text=number)).to_contain_text("0U")
    expect(payer.locator("article.pa", has_text=number)).to_have_count(0)

    # Org2's clinician, on Org2's node, sees the decision (the ledger replicated it)
    provider = browser.new_context(**browser_context_args).new_page()
    login_staff(provider, "Org2.client0", "Find a patient", base=web.urls["Org2"])
    provider.get_by_role("link", name="Prior authorizations").click()
    expect(provider.get_by_role("heading", name="Prior authorizations", level=1)).to_be_visible()
    row = provider.locator("#prior-auth tbody tr", has_text=number)
    until(lambda: "denied" in row.inner_text(), step=provider.reload)
    expect(row).to_contain_text("0U")
    expect(provider.locator("#prior-auth tbody tr", has_text=web.prior_auths[1])).to_contain_text(
        "pended"
    )

    # the decision time is plotted from the chain's events
    payer.get_by_role("link", name="Decision times").click()
    expect(payer.get_by_role("heading", name="Decision times", level=1)).to_be_visible()
    expect(payer.locator("main svg[role=img]")).to_be_visible()
    expect(payer.locator("main")).to_contain_text(number)
