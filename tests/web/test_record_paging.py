"""The record timeline a page at a time, newest first: a patient whose record holds more than a
page sees the newest entries first, follows *Next page* to older ones and *Previous page* back,
with plain links (no JavaScript needed), and axe-core finds nothing on either page."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from playwright.sync_api import Browser, Page, expect

from careledger.sim.synthetic_fhir import transaction_bundle
from careledger.web.records import PAGE
from tests.web.network import PATIENT_ID, WebNetwork, fhir_call, until
from tests.web.pages import axe_violations, login_patient

OLD = PAGE + 1  # with the Patient: two pages of Org1's own data, whatever the consents


def _reading(i: int) -> dict[str, Any]:
    day = date(2015, 1, 1) + timedelta(days=i)
    return {
        "resourceType": "Observation",
        "id": f"web-old-{i:03d}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4",
                             "display": f"Old reading {i:03d}"}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectiveDateTime": f"{day.isoformat()}T08:00:00Z",
        "valueQuantity": {"value": 60 + i % 20, "unit": "/min"},
    }  # fmt: skip


def _main(page: Page) -> str:
    return page.locator("main").inner_text()


def test_paging_shows_older_entries_on_the_next_page(
    browser: Browser, browser_context_args: dict, web: WebNetwork, axe_source: str
) -> None:
    assert web.cluster is not None
    bundle = transaction_bundle([_reading(i) for i in range(OLD)])
    web.run(fhir_call(web.cluster, "Org1", "POST", "/fhir", bundle))
    patient = browser.new_context(**browser_context_args).new_page()
    login_patient(patient, web.patient.did)
    newest, oldest = f"Old reading {OLD - 1:03d}", "Old reading 000"
    # Org1's locator entries commit in the background: until then its readings are not listed
    until(lambda: newest in _main(patient), step=patient.reload)
    assert oldest not in _main(patient)
    assert axe_violations(patient, axe_source) == []

    patient.get_by_role("navigation", name="Record pages").get_by_role(
        "link", name="Next page"
    ).click()
    expect(patient.locator("main")).to_contain_text(oldest)
    assert newest not in _main(patient)
    assert "offset=" in patient.url
    assert axe_violations(patient, axe_source) == []

    patient.get_by_role("link", name="Previous page").click()
    expect(patient.locator("main")).to_contain_text(newest)
    assert oldest not in _main(patient)

    # the same walk with JavaScript off: the pager is plain links
    plain = browser.new_context(**browser_context_args, java_script_enabled=False).new_page()
    login_patient(plain, web.patient.did)
    plain.get_by_role("link", name="Next page").click()
    expect(plain.locator("main")).to_contain_text(oldest)
