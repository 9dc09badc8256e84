"""The sponsor / auditor desk: an admin who chooses it sees the campaigns its organisation funds
or audits, with reports whose small cells are suppressed; members cannot open desks their role
does not allow."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from careledger.incentives.story import flu_shot_campaign
from careledger.node.consortium import ConsortiumConfig
from careledger.web.app import mount_ui
from careledger.web.demo import demo_context
from careledger.web.login import sign_staff_login
from tests.harness import running
from tests.web.test_ui_app import _csrf, _run


async def _sign_in(ui: httpx.AsyncClient, consortium: ConsortiumConfig, org: str, member: str,
                   audience: str, desk: str) -> httpx.Response:  # fmt: skip
    form = await ui.get("/login/staff")
    nonce = re.search(r'id="nonce">([^<]+)<', form.text)
    assert nonce is not None
    identity, signature = sign_staff_login(consortium.member(org, member), audience, nonce.group(1))
    data = {"csrf": _csrf(form.text), "identity": identity, "signature": signature, "desk": desk}
    return await ui.post("/login/staff", data=data)


def test_sponsor_and_auditor_see_the_campaign_report(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with running(consortium, contracts=()) as net:
            story = await flu_shot_campaign(
                net, sponsor="Org2", clinic="Org1", auditor="Org3", campaign="flu-web"
            )
            assert story.report.members is None  # one member: suppressed
            for org, part in (("Org2", "sponsor"), ("Org3", "auditor")):
                ctx, service = demo_context(net, org)
                app = FastAPI()
                mount_ui(app, ctx)
                transport = httpx.ASGITransport(app=app)
                try:
                    async with httpx.AsyncClient(transport=transport, base_url="http://n/ui") as ui:
                        done = await _sign_in(ui, consortium, org, "admin", ctx.login_audience(),
                                              "sponsor")  # fmt: skip
                        assert done.status_code == 303
                        assert done.headers["location"] == "/ui/sponsor"
                        shown = await ui.get("/sponsor")
                        assert shown.status_code == 200
                        text = shown.text
                        assert "flu-web" in text
                        assert f"<dd>{part}</dd>" in text
                        assert "(suppressed)" in text
                        assert f"<td>{story.report.awarded}</td>" in text
                        assert "<svg" in text
                        # the explorer is another desk: 403 for this session
                        assert (await ui.get("/explorer")).status_code == 403
                    async with httpx.AsyncClient(transport=transport, base_url="http://n/ui") as ui:
                        refused = await _sign_in(ui, consortium, org, "client0",
                                                 ctx.login_audience(), "sponsor")  # fmt: skip
                        assert refused.status_code == 403
                        assert (await ui.get("/sponsor")).status_code == 303
                finally:
                    service.close()

    _run(main())
