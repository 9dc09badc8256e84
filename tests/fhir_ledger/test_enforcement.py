"""Consent enforcement at the holder, audit, break-glass, and the verified longitudinal record,
on a real embedded network with three providers' FHIR APIs."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from careledger.fhir.bundles import process_bundle
from careledger.longitudinal.accounting import accounting_of_disclosures, break_glass_notices
from careledger.longitudinal.everything import DID_SYSTEM
from careledger.node.consortium import ConsortiumConfig
from tests.fhir_ledger.world import World, entries_of, outcome_of, sources, world

ALL = (0, 2**42)


def _ids(bundle: Any) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries_of(bundle)}


def _records(w: World) -> list[dict[str, Any]]:
    return list(w.query("audit", "records", [w.patient.handle, *ALL]))


async def _holder_part(w: World, holder: str, requester: str, **headers: str) -> Any:
    path = f"/Patient/$everything?identifier={DID_SYSTEM}|{w.patient.did}"
    return await w.providers[holder].as_org(requester, path, **headers)


def test_without_consent_denied_and_audited_then_consent_assembles_and_revocation_applies(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with world(consortium) as w:
            own = len(w.held["Org1"])
            refused = await _holder_part(w, "Org2", "Org1")
            assert refused.status_code == 403
            alone = await w.everything()
            assert alone["total"] == own
            assert "Org2: refused" in outcome_of(alone)
            assert "Org3: refused" in outcome_of(alone)
            await w.flush()
            denials = [r for r in _records(w) if r["action"] == "deny"]
            assert {(r["holder"], r["requester"], r["reason"]) for r in denials} == {
                ("Org2", "Org1", "no-consent"),
                ("Org3", "Org1", "no-consent"),
            }

            consent = await w.patient.grant(w.net, "Org1", "Org1")
            await w.flush()
            full = await w.everything("Org1", "?_count=1000")
            total = sum(len(v) for v in w.held.values()) - 2  # Patient copies de-duplicated
            assert full["total"] == total
            assert outcome_of(full) == ""
            got = entries_of(full)
            assert got[0]["resource"]["resourceType"] == "Patient"
            assert sorted(sources(got[0])) == ["Org1", "Org2", "Org3"]
            assert {s for e in got for s in sources(e)} == {"Org1", "Org2", "Org3"}
            await w.flush()
            disclosed = [r for r in _records(w) if r["action"] == "disclose"]
            assert {r["holder"] for r in disclosed} == {"Org2", "Org3"}
            assert sum(r["count"] for r in disclosed) == len(w.held["Org2"]) + len(w.held["Org3"])

            # Another organisation without consent is still refused.
            assert (await _holder_part(w, "Org2", "Org3")).status_code == 403

            before = w.net.peers["Org2"].height()
            await w.patient.revoke(w.net, "Org1", consent)
            await w.flush()
            assert w.net.peers["Org2"].height() > before  # revoked in a later block
            after = await w.everything()
            assert after["total"] == own
            assert (await _holder_part(w, "Org2", "Org1")).status_code == 403

    asyncio.run(scenario())


def test_sensitive_categories_withheld_unless_named(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with world(consortium) as w:
            patient_id = w.local.split("/")[1]
            note = {
                "resourceType": "Observation",
                "id": "sud-note-1",
                "status": "final",
                "meta": {
                    "security": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                            "code": "ETH",
                        },
                    ]
                },
                "code": {"coding": [{"system": "http://loinc.org", "code": "74204-5"}]},
                "subject": {"reference": w.local},
                "effectiveDateTime": "2021-05-01",
            }
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [
                    {
                        "resource": note,
                        "request": {"method": "PUT", "url": "Observation/sud-note-1"},
                    }
                ],
            }
            await asyncio.to_thread(process_bundle, w.providers["Org2"].service, bundle)
            consent = await w.patient.grant(w.net, "Org1", "Org1")
            await w.flush()
            plain = await w.everything()
            assert "Observation/sud-note-1" not in _ids(await w.everything(query="?_count=1000"))
            assert "not received" in outcome_of(plain)
            await w.patient.revoke(w.net, "Org1", consent)
            await w.patient.grant(w.net, "Org1", "Org1", sensitive=("ETH",))
            await w.flush()
            named = await w.everything(query="?_count=1000")
            assert "Observation/sud-note-1" in _ids(named)
            await w.flush()
            reasons = {r["reason"] for r in _records(w) if r["holder"] == "Org2"}
            assert "sensitive-withheld" in reasons
            assert patient_id

    asyncio.run(scenario())


def test_break_glass_is_served_audited_and_visible_to_the_patient(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with world(consortium) as w:
            bad = await w.providers["Org1"].get(
                f"/{w.local}/$everything", headers={"x-careledger-break-glass": "because"}
            )
            assert bad.status_code == 400
            assert break_glass_notices(w.providers["Org1"].ledger.session, w.patient.handle) == []
            emergency = await w.everything(
                "Org1", "?_count=1000", **{"x-careledger-break-glass": "UNCONSCIOUS"}
            )
            assert emergency["total"] == sum(len(v) for v in w.held.values()) - 2
            # Audited before anything left the holders: visible without waiting.
            notices = break_glass_notices(w.providers["Org3"].ledger.session, w.patient.handle)
            assert {(n["holder"], n["requester"], n["reason"]) for n in notices} == {
                ("Org2", "Org1", "UNCONSCIOUS"),
                ("Org3", "Org1", "UNCONSCIOUS"),
            }
            report = accounting_of_disclosures(
                w.providers["Org2"].ledger.session, w.patient.handle, *ALL
            )
            glass = [r for r in report.rows if r.break_glass]
            assert glass
            assert all(r.purpose == "ETREAT" for r in glass)
            events = report.audit_events()
            assert any(
                c.code == "BTG" for e in events for p in e.purposeOfEvent or [] for c in p.coding
            )

    asyncio.run(scenario())


def test_resources_altered_at_the_holder_are_caught_by_hash_verification(
    consortium: ConsortiumConfig,
) -> None:
    async def scenario() -> None:
        async with world(consortium) as w:
            await w.patient.grant(w.net, "Org1", "Org1")
            lab = w.providers["Org2"]
            victims = [r for r in w.held["Org2"] if r["resourceType"] == "Observation"][:2]
            # 1. Same version, different bytes (the database was edited behind the server).
            store = lab.service.store
            real_search = store.search

            def tampered(query: Any) -> Any:
                found, total = real_search(query)
                return [
                    dataclasses.replace(v, content=v.content.replace(b'"final"', b'"amended"'))
                    if v.id == victims[0]["id"] and v.content
                    else v
                    for v in found
                ], total

            store.search = tampered  # type: ignore[method-assign]
            # 2. A new version written without the ledger hook.
            lab.service.listener = None
            changed = dict(victims[1], status="amended")
            await asyncio.to_thread(lab.service.update, "Observation", victims[1]["id"], changed)
            record = await w.everything(query="?_count=1000")
            ids = _ids(record)
            for victim in victims:
                assert f"Observation/{victim['id']}" not in ids
                assert f"Observation/{victim['id']} from Org2 does not match" in outcome_of(record)
            assert len(ids) == sum(len(v) for v in w.held.values()) - 2 - 2

    asyncio.run(scenario())


def test_paging_type_and_since(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with world(consortium) as w:
            await w.patient.grant(w.net, "Org1", "Org1")
            await w.flush()
            full = await w.everything(query="?_count=1000")
            total = full["total"]
            page = await w.everything(query="?_count=5")
            assert len(entries_of(page)) == 5
            assert page["total"] == total
            nxt = next(link["url"] for link in page["link"] if link["relation"] == "next")
            assert "_offset=5" in nxt
            second = await w.everything(query="?_count=5&_offset=5")
            assert not _ids(page) & _ids(second)
            obs = await w.everything(query="?_type=Observation,Encounter&_count=1000")
            assert {e["resource"]["resourceType"] for e in entries_of(obs)} == {
                "Observation",
                "Encounter",
            }
            dates = [e["resource"].get("effectiveDateTime") for e in entries_of(obs)]
            assert [d for d in dates if d] == sorted(d for d in dates if d)
            future = await w.everything(query="?_since=2999-01-01T00:00:00Z")
            assert future["total"] == 0
            bad = await w.providers["Org1"].get(f"/{w.local}/$everything?_type=Nope")
            assert bad.status_code == 400

    asyncio.run(scenario())


def test_accounting_and_erasure(consortium: ConsortiumConfig) -> None:
    async def scenario() -> None:
        async with world(consortium) as w:
            await w.patient.grant(w.net, "Org1", "Org1")
            await w.everything()
            await w.flush()
            session = w.providers["Org1"].ledger.session
            report = accounting_of_disclosures(session, w.patient.handle, *ALL)
            assert {r.holder for r in report.disclosures()} == {"Org2", "Org3"}
            assert all(r.requester == "Org1" and r.purpose == "TREAT" for r in report.disclosures())
            events = report.audit_events()
            assert len(events) == len(report.rows)
            assert events[0].agent[0].who.identifier.value == "Org1"
            empty = accounting_of_disclosures(session, w.patient.handle, 0, 1)
            assert empty.rows == ()

            lab = w.providers["Org2"]
            shredded = await asyncio.to_thread(lab.service.erase_patient, w.local)
            assert shredded == len(w.held["Org2"])
            await w.flush()
            entries = w.query("locator", "entries", [w.patient.handle, [], 0])
            assert {e["status"] for e in entries if e["holder"] == "Org2"} == {"erased"}
            assert [e["holder"] for e in w.query("locator", "erasures", [w.patient.handle])] == [
                "Org2"
            ]
            erasures = [r for r in _records(w) if r["action"] == "erase"]
            assert [(r["holder"], r["reason"]) for r in erasures] == [("Org2", "erasure-request")]
            after = await w.everything(query="?_count=1000")
            assert "Org2" not in {s for e in entries_of(after) for s in sources(e)}

    asyncio.run(scenario())
