#!/usr/bin/env python3
"""Regenerate the screenshots in docs/ui/ (used by docs/ui.md) from a live demo UI.

    .venv/bin/python scripts/ui_screenshots.py [--out docs/ui] [--chromium /usr/bin/chromium]

Starts an embedded demo consortium (Hospital, Lab, Payer) with synthetic data and serves
Hospital's UI on 127.0.0.1 (:func:`careledger.sim.demo_ui.open_demo_ui`), signs in as the
patient, a clinician and an operator with the demo keys, and photographs the main pages with
the system chromium (Playwright); then serves Payer's UI too and photographs its payer desk.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

from careledger.sim.demo_ui import DemoUiSession, open_demo_ui
from careledger.web.demo import serve_demo

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip


async def shoot(page: Page, out: Path, name: str, path: str | None = None) -> None:
    if path is not None:
        await page.goto(path)
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=out / f"{name}.png", full_page=False)
    print(f"  {out / f'{name}.png'}")


async def main(out: Path, chromium: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="careledger-ui-shots-") as tmp:
        session = await open_demo_ui(Path(tmp))
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
                await photograph(browser, session.url.removesuffix("/ui/"), session, out)
                payer = await serve_demo(
                    session.net, org="Payer", providers=session.population.providers,
                    payers=session.population.payers,
                )  # fmt: skip
                try:
                    await photograph_payer(browser, payer.url.removesuffix("/ui/"), out)
                finally:
                    await payer.close()
                await browser.close()
        finally:
            await session.close()


async def photograph(browser: Browser, base: str, session: DemoUiSession, out: Path) -> None:
    view = {"width": 1000, "height": 700}
    anon = await browser.new_page(base_url=base, viewport=view)
    await shoot(anon, out, "start", "/ui/")
    await shoot(anon, out, "login-patient", "/ui/login/patient")

    patient = await browser.new_page(base_url=base, viewport=view)
    await patient.goto("/ui/login/patient")
    await patient.get_by_role("button", name="Sign with this demo wallet").click()
    await patient.get_by_role("heading", name="My record").wait_for()
    await shoot(patient, out, "patient-record")
    await shoot(patient, out, "patient-access", "/ui/patient/access")
    await shoot(patient, out, "patient-consents", "/ui/patient/consents")
    await shoot(patient, out, "patient-credentials",
                "/ui/patient/credentials?claims=memberId&claims=planId")  # fmt: skip
    await shoot(patient, out, "patient-rewards", "/ui/patient/rewards")

    staff = await browser.new_page(base_url=base, viewport=view)
    await staff.goto("/ui/login/staff")
    await staff.get_by_label("Member", exact=True).select_option("Hospital.client0")
    await staff.get_by_role("button", name="Sign with this demo key").click()
    local_id = session.population.local.split("/", 1)[1]
    await staff.get_by_label("Local patient id or DID").fill(local_id)
    await staff.get_by_role("button", name="Open record").click()
    await staff.get_by_role("heading", name="Patient record").wait_for()
    await shoot(staff, out, "provider-record")
    await shoot(staff, out, "provider-prior-auth", "/ui/provider/prior-auth")

    ops = await browser.new_page(base_url=base, viewport=view)
    await ops.goto("/ui/login/staff")
    await ops.get_by_label("Member", exact=True).select_option("Hospital.admin")
    await ops.get_by_role("button", name="Sign with this demo key").click()
    await ops.get_by_role("heading", name="Explorer").wait_for()
    await shoot(ops, out, "explorer-dashboard")
    await shoot(ops, out, "explorer-blocks", "/ui/explorer/blocks")
    await shoot(ops, out, "explorer-block", "/ui/explorer/blocks/3")
    href = await ops.locator("table a[href^='/ui/explorer/tx/']").first.get_attribute("href")
    await shoot(ops, out, "explorer-tx", href)
    await shoot(ops, out, "explorer-governance", "/ui/explorer/governance")
    await shoot(ops, out, "explorer-peers", "/ui/explorer/peers")


async def photograph_payer(browser: Browser, base: str, out: Path) -> None:
    view = {"width": 1000, "height": 700}
    desk = await browser.new_page(base_url=base, viewport=view)
    await desk.goto("/ui/login/staff")
    await desk.get_by_label("Member", exact=True).select_option("Payer.admin")
    await desk.locator("#demo_desk").select_option("payer")
    await desk.get_by_role("button", name="Sign with this demo key").click()
    await desk.get_by_role("heading", name="Prior authorization review").wait_for()
    await shoot(desk, out, "payer-review")
    await shoot(desk, out, "payer-decision-times", "/ui/payer/decision-times")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ui")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    options = parser.parse_args()
    asyncio.run(main(options.out, options.chromium))
