"""The UI application without a browser (httpx over ASGI, an embedded network): routes are
documented, sessions are tamper-proof, forms are checked, plots escape their text, and the
payer desk of a context without a payer side says so."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from careledger.identity.did.keys import Ed25519Signer
from careledger.node.consortium import ConsortiumConfig
from careledger.web.app import mount_ui, ui_routes
from careledger.web.charts import bars, timeline
from careledger.web.consent_form import ConsentFormError, terms_from_form
from careledger.web.demo import demo_context
from careledger.web.desks.payer_data import PayerData
from careledger.web.sponsor import CampaignReports
from tests.harness import running

API_DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()


def _run(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run`` in a thread of its own: the browser tests' Playwright (sync API) keeps
    an event loop running on the main thread for the rest of the session."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(main)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(120)
    if errors:
        raise errors[0]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_ui_routes_are_documented_and_data_sources_unfinished_are_explicit(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with running(consortium, contracts=()) as net:
            ctx, service = demo_context(net, "Org1")
            try:
                routes = ui_routes(ctx)
                assert len(routes) >= 20
                for method, path in routes:
                    assert f"`{method} {path}`" in API_DOC, f"{method} {path} not in docs/api.md"
                with pytest.raises(NotImplementedError):  # no payer side in this context
                    _ = PayerData(ctx).backend
                assert await CampaignReports(ctx).campaigns() == []  # no incentives contract
            finally:
                service.close()

    _run(main())


def test_staff_login_session_tampering_and_csrf(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with running(consortium, contracts=()) as net:
            ctx, service = demo_context(net, "Org1")
            app = FastAPI()
            mount_ui(app, ctx)
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://n/ui") as ui:
                    form = await ui.get("/login/staff")
                    assert form.status_code == 200
                    token = _csrf(form.text)
                    # a member of another organisation cannot sign in at Org1's node
                    from careledger.web.login import sign_staff_login

                    nonce = re.search(r'id="nonce">([^<]+)<', form.text)
                    assert nonce is not None
                    other = consortium.member("Org2", "admin")
                    identity, signature = sign_staff_login(
                        other, ctx.login_audience(), nonce.group(1)
                    )
                    refused = await ui.post("/login/staff", data={
                        "csrf": token, "identity": identity, "signature": signature})  # fmt: skip
                    assert refused.status_code == 403
                    # a pasted login by Org1's admin works
                    form = await ui.get("/login/staff")
                    nonce = re.search(r'id="nonce">([^<]+)<', form.text)
                    assert nonce is not None
                    admin = consortium.member("Org1", "admin")
                    identity, signature = sign_staff_login(
                        admin, ctx.login_audience(), nonce.group(1)
                    )
                    done = await ui.post("/login/staff", data={
                        "csrf": _csrf(form.text), "identity": identity,
                        "signature": signature})  # fmt: skip
                    assert done.status_code == 303
                    assert done.headers["location"] == "/ui/explorer"
                    assert (await ui.get("/explorer")).status_code == 200
                    # the same nonce cannot be used twice
                    again = await ui.post("/login/staff", data={
                        "csrf": _csrf(form.text), "identity": identity,
                        "signature": signature})  # fmt: skip
                    assert again.status_code in (400, 403)
                    # a tampered cookie is no session at all
                    cookie = ui.cookies["careledger_ui"]
                    ui.cookies.set("careledger_ui", cookie[:-4] + "AAAA", path="/ui")
                    anonymous = await ui.get("/explorer")
                    assert anonymous.status_code == 303
            finally:
                service.close()

    _run(main())


def test_consent_form_refuses_bad_input() -> None:
    orgs = ["Org1", "Org2"]
    base = {"grantee": ["Org2"], "purpose": ["TREAT"], "scope": ["all"],
            "expires": ["2031-01-01"]}  # fmt: skip
    terms = terms_from_form(base, orgs)
    assert (terms.grantee, terms.classes, terms.sensitive) == ("Org2", ["*"], [])
    for change, message in (
        ({"grantee": ["Evil Corp"]}, "recipient"),
        ({"purpose": []}, "purpose"),
        ({"expires": ["2001-01-01"]}, "past"),
        ({"expires": ["next week"]}, "expiry"),
        ({"scope": ["some"]}, "kinds"),
        ({"terms": ['{"grantee": "Org2"}']}, "altered"),
    ):
        with pytest.raises(ConsentFormError, match=message):
            terms_from_form({**base, **change}, orgs)


def test_plots_escape_their_text() -> None:
    svg = bars("<script>x</script>", ["<b>#1</b>"], [3.0], "tx")
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "<b>" not in svg
    line = timeline("gaps", ["a", "b"], [0.5, 1.5])
    assert "<polyline" in line
    assert 'role="img"' in line


def test_serve_demo_serves_a_populated_consortium(tmp_path: Path) -> None:
    from careledger.sim.demo_ui import open_demo_ui
    from careledger.web import serve_demo

    async def main() -> None:
        session = await open_demo_ui(tmp_path)
        try:
            assert session.url.startswith("http://127.0.0.1:")
            async with httpx.AsyncClient() as http:
                start = await http.get(session.url)
                assert start.status_code == 200
                login = await http.get(session.url + "login/patient")
                assert session.population.patient.did in login.text  # demo wallet offered
                staff = await http.get(session.url + "login/staff")
                assert "Hospital.admin" in staff.text
            # The demo patient's rewards: the flu-shot campaign's points, redeemable, no transfer.
            async with httpx.AsyncClient(base_url=session.url.rstrip("/")) as ui:
                did = session.population.patient.did
                form = await ui.get("/login/patient")
                signed_in = await ui.post(
                    "/login/patient", data={"csrf": _csrf(form.text), "demo_did": did}
                )
                assert signed_in.status_code == 303
                rewards = await ui.get("/patient/rewards")
                assert rewards.status_code == 200
                assert "flu-demo" in rewards.text
                assert "<td>500</td>" in rewards.text  # 1,000 awarded, 500 redeemed in the story
                assert "<td>no</td>" in rewards.text  # transferable: no, and no control for it
                assert "transfer" not in re.sub(r"Transferable", "", rewards.text).lower()
                spend = {"campaign": "flu-demo", "item": "water-bottle"}
                redeemed = await ui.post(
                    "/patient/rewards/redeem", data={"csrf": _csrf(rewards.text), **spend}
                )
                assert redeemed.status_code == 303
                after = await ui.get("/patient/rewards")
                assert "Redeemed 500 points for water-bottle; 0 left." in after.text
                refused = await ui.post(
                    "/patient/rewards/redeem", data={"csrf": _csrf(after.text), **spend}
                )
                assert refused.status_code == 400
                no_csrf = await ui.post(
                    "/patient/rewards/redeem", data={"campaign": "flu-demo", "item": "x"}
                )
                assert no_csrf.status_code == 403
        finally:
            await session.close()

    _run(main())
    with pytest.raises(ValueError, match="loopback"):
        _run(serve_demo(None, host="0.0.0.0"))  # type: ignore[arg-type]


def test_dashboard_shows_the_ordering_health_when_the_backend_has_one(
    consortium: ConsortiumConfig,
) -> None:
    from careledger.web.explorer_data import Explorer

    class Nats:
        def health(self) -> str:
            return "NATS connected to 127.0.0.1:4222"

    async def main() -> None:
        async with running(consortium, contracts=()) as net:
            ctx, service = demo_context(net, "Org1")
            try:
                assert "no health probe" in Explorer(ctx).ordering_health()
                ctx.ordering, ctx.ordering_health = "jetstream", Nats()
                assert Explorer(ctx).ordering_health() == (
                    "jetstream: NATS connected to 127.0.0.1:4222"
                )
            finally:
                service.close()

    _run(main())


def test_a_revoked_member_is_signed_out_on_the_next_page(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with running(consortium, contracts=()) as net:
            ctx, service = demo_context(net, "Org1")
            app = FastAPI()
            mount_ui(app, ctx)
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://n/ui") as ui:
                    form = await ui.get("/login/staff")
                    signed_in = await ui.post("/login/staff", data={
                        "csrf": _csrf(form.text), "demo_member": "Org1.client0"})  # fmt: skip
                    assert signed_in.headers["location"] == "/ui/provider"
                    assert (await ui.get("/provider")).status_code == 200
                    serial = str(consortium.member("Org1", "client0").cert.serial)
                    change = {"org": "Org1", "serial": serial}
                    proposed = await net.gateway("Org1", "admin").submit(
                        "_gov", "propose", ["revoke_member", change]
                    )
                    await net.gateway("Org2", "admin").submit(
                        "_gov", "approve", [proposed.result["id"]]
                    )
                    async with asyncio.timeout(10):  # until Org1's peer has committed it
                        while ("Org1", int(serial)) not in ctx.node.membership().revoked:
                            await asyncio.sleep(0.01)
                    after = await ui.get("/provider")
                    assert after.status_code == 303
                    assert after.headers["location"] == "/ui/login/staff"
            finally:
                service.close()

    _run(main())


def test_templates_and_static_files_are_package_data() -> None:
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["careledger"]
    web = root / "src" / "careledger" / "web"
    files = [p for d in ("templates", "static") for p in (web / d).iterdir() if p.is_file()]
    assert len(files) > 20
    for path in files:
        relative = path.relative_to(root / "src" / "careledger").as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), f"{relative} not shipped"


def test_an_unexpected_error_is_a_500_page_and_logged_by_type_only(
    consortium: ConsortiumConfig, caplog: pytest.LogCaptureFixture
) -> None:
    from careledger.web.app import create_ui_app

    async def main() -> None:
        async with running(consortium, contracts=()) as net:
            ctx, service = demo_context(net, "Org1")
            ui = create_ui_app(ctx)
            inner = ui.app
            assert isinstance(inner, FastAPI)

            @inner.get("/boom")
            async def boom() -> None:
                raise RuntimeError("Wilhelmina Quarterstaff, born 1961-07-14")

            app = FastAPI()
            app.mount("/ui", ui)
            # the exception must not reach the server, which would log its traceback (and
            # message): httpx's transport re-raises whatever escapes the app
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://n") as http:
                    reply = await http.get("/ui/boom")
                assert reply.status_code == 500
                assert "Wilhelmina" not in reply.text
            finally:
                service.close()

    with caplog.at_level("DEBUG"):
        _run(main())
    assert "RuntimeError" in caplog.text
    assert "Wilhelmina" not in caplog.text


def test_without_demo_wallets_the_patient_pastes_what_their_wallet_signed(
    consortium: ConsortiumConfig,
) -> None:
    """The flow of a real node: the DID-auth answer and the consent signature come from the
    patient's own wallet and are pasted; nothing on the node holds the patient's key."""
    import base64
    import html
    import time

    from careledger.credentials.did_auth import Challenge, respond
    from careledger.sim.demo_fhir import SyntheticPatient

    async def main() -> None:
        async with running(consortium, contracts=("dids", "consent")) as net:
            patient = SyntheticPatient()
            await patient.anchor(net, "Org1")
            ctx, service = demo_context(net, "Org1")
            ctx.wallets = None
            app = FastAPI()
            mount_ui(app, ctx)
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://n/ui") as ui:
                    form = await ui.get("/login/patient")
                    assert "Demo wallets" not in form.text
                    nonce = re.search(r'id="nonce">([^<]+)<', form.text)
                    assert nonce is not None
                    challenge = Challenge(nonce.group(1), ctx.login_audience(), time.time() + 60)
                    forged = respond(challenge, Ed25519Signer(), f"{patient.did}#key-1")
                    refused = await ui.post("/login/patient", data={
                        "csrf": _csrf(form.text), "response": forged})  # fmt: skip
                    assert refused.status_code == 400
                    # the refused attempt burnt that page's challenge: sign the new one
                    nonce = re.search(r'id="nonce">([^<]+)<', refused.text)
                    assert nonce is not None
                    challenge = Challenge(nonce.group(1), ctx.login_audience(), time.time() + 60)
                    answer = respond(challenge, patient.signer, f"{patient.did}#key-1")
                    done = await ui.post("/login/patient", data={
                        "csrf": _csrf(refused.text), "response": answer})  # fmt: skip
                    assert done.status_code == 303, done.text

                    page = await ui.get("/patient/consents")
                    first = await ui.post("/patient/consents", data={
                        "csrf": _csrf(page.text), "grantee": "Org2", "purpose": "TREAT",
                        "scope": "all", "expires": "2031-01-01"})  # fmt: skip
                    assert first.status_code == 200
                    assert "Sign with your wallet" in first.text
                    payload = re.search(r'<code class="wrap">([^<]+)</code>', first.text)
                    terms = re.search(r'name="terms" value="([^"]+)"', first.text)
                    assert payload is not None
                    assert terms is not None
                    raw = base64.urlsafe_b64decode(payload.group(1) + "==")
                    signature = base64.urlsafe_b64encode(patient.signer.sign(raw)).decode()
                    granted = await ui.post("/patient/consents", data={
                        "csrf": _csrf(first.text), "terms": html.unescape(terms.group(1)),
                        "signature": signature})  # fmt: skip
                    assert granted.status_code == 303, granted.text
                    listed = await ui.get("/patient/consents")
                    assert "Consent for Org2 granted" in listed.text
                    records = await net.gateway("Org1").evaluate(
                        "consent", "consents", [patient.did]
                    )
                    assert [r["terms"]["grantee"] for r in records] == ["Org2"]
            finally:
                service.close()

    _run(main())
