"""The payer desk without a browser (httpx over ASGI, an embedded network): a prior authorization
pended at the payer is denied on the desk only with a reason (nothing is written otherwise, and
a form without the CSRF token is refused), the decision is on the chain and the requester's
provider desk shows it; the other desk pages answer; names are escaped; other roles get 403."""

from __future__ import annotations

import msgspec
import pytest

from careledger.contracts.payer.authorization import DAY_MS
from careledger.node.consortium import ConsortiumConfig
from careledger.payer.pas.service import PriorAuthService
from careledger.payer.pas.store import MemoryPasStore
from careledger.sim.payer_workload import pas_request
from careledger.web.context import PayerBackend
from careledger.web.desks.payer_data import DecisionError, decision_body, left
from tests.harness import running
from tests.web.test_sponsor_view import _sign_in
from tests.web.test_ui_app import _csrf, _run
from tests.web.ui_clients import ui_client

SECRET = b"payer-desk-member-secret-32bytes"
XSS = '<img src=x onerror="window.__xss=1">'


def test_decision_form_rules() -> None:
    assert msgspec.json.decode(decision_body("A1", "", "")) == {"action": "A1"}
    with pytest.raises(DecisionError, match="needs a reason"):
        decision_body("A3", "", "")
    with pytest.raises(DecisionError, match="needs a reason"):
        decision_body("A3", "0U", "")
    with pytest.raises(DecisionError, match="reason code"):
        decision_body("A3", "no good", "why")
    with pytest.raises(DecisionError, match="approve, deny or pend"):
        decision_body("A6", "", "")
    assert left(10 * DAY_MS, 7 * DAY_MS + 3_600_000) == "2 d 23 h left"
    assert left(0, 3 * 3_600_000) == "overdue by 3 h 0 min"


def test_payer_desk_decides_and_the_provider_sees_it(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with running(consortium, contracts=("prior_auth",)) as net:
            service = PriorAuthService(net.gateway("Org1", "client0"), MemoryPasStore(), SECRET)
            bundle = pas_request(payer="Org1", member_system="urn:careledger:member",
                                 member_id="M-TEST-1", patient_name=(XSS, "Wil"))  # fmt: skip
            sent = await service.submit(msgspec.json.encode(bundle), "Org2")
            number = sent["entry"][0]["resource"]["preAuthRef"]
            async with ui_client(net, "Org1", PayerBackend(service)) as (ui, ctx):
                assert (await ui.get("/payer")).status_code == 303  # not signed in
                done = await _sign_in(ui, consortium, "Org1", "client0", ctx.login_audience(),
                                      "payer")  # fmt: skip
                assert done.headers["location"] == "/ui/payer"
                queue = await ui.get("/payer")
                assert queue.status_code == 200
                assert number in queue.text
                assert "6 d 23 h left" in queue.text
                assert XSS not in queue.text
                assert "&lt;img src=x" in queue.text
                form = {"csrf": _csrf(queue.text), "number": number, "action": "A3"}
                refused = await ui.post("/payer/prior-auth/decide", data=form)
                assert refused.status_code == 400
                assert "A denial needs a reason" in refused.text
                forged = await ui.post("/payer/prior-auth/decide",
                                       data={**form, "csrf": "forged", "reason": "0U",
                                             "text": "Conservative therapy first."})  # fmt: skip
                assert forged.status_code == 403
                assert (await service.get(number))["status"] == "A4"  # nothing written
                denied = await ui.post("/payer/prior-auth/decide", data={
                    **form, "reason": "0U", "text": "Conservative therapy first."})  # fmt: skip
                assert denied.status_code == 303
                record = await service.get(number)
                assert (record["status"], record["reasons"]) == ("A3", ["0U"])
                after = await ui.get("/payer")
                assert f"{number}: denied." in after.text
                assert "No request awaits a decision." in after.text
                times = await ui.get("/payer/decision-times")
                assert times.status_code == 200
                assert "<svg" in times.text
                assert number in times.text
                for path in ("/payer/claims", "/payer/remittances", "/payer/directory"):
                    assert (await ui.get(path)).status_code == 200, path
                assert (await ui.get("/payer/remittances/" + "0" * 24)).status_code == 404
                assert (await ui.get("/provider/prior-auth")).status_code == 403
            async with ui_client(net, "Org2") as (ui, ctx):
                await _sign_in(ui, consortium, "Org2", "client0", ctx.login_audience(), "")
                mine = await ui.get("/provider/prior-auth")
                assert mine.status_code == 200
                assert number in mine.text
                assert "denied" in mine.text
                assert "0U" in mine.text
                assert (await ui.get("/payer")).status_code == 403
            async with ui_client(net, "Org3") as (ui, ctx):  # no payer side: 501, says why
                await _sign_in(ui, consortium, "Org3", "admin", ctx.login_audience(), "payer")
                missing = await ui.get("/payer")
                assert missing.status_code == 501
                assert "without its payer side" in missing.text

    _run(main())
