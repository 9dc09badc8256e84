"""The payer desk without a browser (httpx over ASGI, an embedded network): a prior authorization
pended at the payer is denied on the desk only with a reason (nothing is written otherwise, and
a form without the CSRF token is refused), the decision is on the chain and the requester's
provider desk shows it; the other desk pages answer; names are escaped; other roles get 403."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from careledger.contracts.payer.authorization import DAY_MS
from careledger.credentials.ledger import gateway_query
from careledger.errors import CareLedgerError
from careledger.node.consortium import ConsortiumConfig, init_consortium
from careledger.node.network import EmbeddedNetwork
from careledger.payer.directory.licence import LicenceCheck
from careledger.payer.pas.service import PriorAuthService
from careledger.payer.pas.store import MemoryPasStore
from careledger.sim.demo_payer import PAYER_CHAPTER
from careledger.sim.payer_workload import pas_request
from careledger.sim.story import DemoContext
from careledger.web.context import PayerBackend
from careledger.web.desks.payer_data import DecisionError, decision_body, left, request_of
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
    record = {"number": "PAABC", "payer": "Org1", "requester": "Org2", "priority": "expedited",
              "status": "A4", "submitted_at": 0, "deadline": 72 * 3_600_000, "breached": False,
              "items": [{"sequence": 1, "code": "HC:72148", "units": 1, "start": 20522,
                         "end": 20553}]}  # fmt: skip
    due = request_of(record, 71 * 3_600_000)
    assert (due.overdue, due.time_left) == (False, "1 h 0 min left")
    late = request_of(record, 75 * 3_600_000)
    assert (late.overdue, late.time_left) == (True, "overdue by 3 h 0 min")
    assert request_of({**record, "breached": True}, 0).overdue  # marked by the deadline watch
    decided = request_of({**record, "status": "A1", "decided_at": 5}, 75 * 3_600_000)
    assert (decided.overdue, decided.time_left, decided.status_text) == (False, "", "approved")
    assert decided.services[0].start == "2026-03-10"


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
                # the contract's requests query: by party, by status
                assert [r["number"] for r in await service.requests("Org2", "A3")] == [number]
                assert await service.requests("Org2", "A4") == []
                assert await service.requests("Org3") == []
                with pytest.raises(CareLedgerError):
                    await service.requests("Org1", "ZZ")
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


def test_claims_remittances_and_directory_after_the_payer_story(tmp_path: Path) -> None:
    """The demo's payer chapter (6 claims in an 837, a duplicate denied, an 835, a licence
    revoked) seen on Payer's desk."""

    async def main() -> None:
        init_consortium(tmp_path, ["Hospital", "Lab", "Payer"], name="desk")
        net = EmbeddedNetwork.open(tmp_path, fsync=False)
        await net.start()
        try:
            story = DemoContext(net)
            for _title, step in PAYER_CHAPTER.steps:
                await step(story)
            desks = story.facts["payer"]
            licences = LicenceCheck(gateway_query(net.gateway("Payer", "admin")))
            backend = PayerBackend(desks.pas, desks.claims, desks.remittance, licences)
            # the same services billed again at another charge: a suspect, pended for review
            first = story.facts["payer_claims"][2]
            lines = [msgspec.structs.replace(ln, charge_cents=ln.charge_cents + 100)
                     for ln in first.lines]  # fmt: skip
            suspect = msgspec.structs.replace(
                first, claim_id="PCN-SUSPECT-1", lines=lines,
                total_charge_cents=sum(ln.charge_cents for ln in lines),
            )  # fmt: skip
            archive = desks.claims.archive
            archived = archive.get(archive.find(member=first.member)[0])
            held = await desks.claims.adjudicate(suspect, archived.parties, submitter="Hospital")
            assert held.adjudication.disposition == "pended"
            key = held.adjudication.claim_key
            async with ui_client(net, "Payer", backend) as (ui, ctx):
                await _sign_in(ui, net.config, "Payer", "admin", ctx.login_audience(), "payer")
                claims = await ui.get("/payer/claims")
                pended = claims.text.split('<table id="pended">', 1)[1].split("</table>", 1)[0]
                assert f'name="claim" value="{key}"' in pended
                review = {"csrf": _csrf(claims.text), "claim": key, "verdict": "not-duplicate"}
                assert (await ui.post("/payer/claims/review", data=review)).status_code == 303
                assert (await desks.claims.adjudication(key)).disposition != "pended"
                claims = await ui.get("/payer/claims")
                assert '<table id="pended">' not in claims.text
                assert claims.status_code == 200
                rows = claims.text.split('<table id="claims">', 1)[1].split("</table>", 1)[0]
                assert rows.count("<tr>") == 1 + 8  # header, 6 claims, the duplicate, the suspect
                assert "denied" in rows
                assert "processed" in rows
                assert "Hospital" in rows
                listed = await ui.get("/payer/remittances")
                ref = re.search(r'href="/ui/payer/remittances/([0-9a-f]{24})"', listed.text)
                assert ref is not None
                x12 = await ui.get(f"/payer/remittances/{ref.group(1)}")
                assert x12.status_code == 200
                assert x12.headers["content-type"].startswith("application/edi-x12")
                assert "attachment" in x12.headers["content-disposition"]
                assert x12.text.startswith("ISA*")
                assert "~ST*835*" in x12.text
                directory = await ui.get("/payer/directory")
                assert "Dr Ana Rivera" in directory.text
                assert "Demo Clinic" in directory.text
                assert "not verified" in directory.text
                assert "revoked" in directory.text
                times = await ui.get("/payer/decision-times")
                assert story.facts["payer_pa"] in times.text
            async with ui_client(net, "Hospital") as (ui, ctx):
                await _sign_in(ui, net.config, "Hospital", "client0", ctx.login_audience(), "")
                mine = await ui.get("/provider/prior-auth")
                row = mine.text.split(story.facts["payer_pa"], 1)[1].split("</tr>", 1)[0]
                assert "approved" in row
        finally:
            await net.stop()

    _run(main())
