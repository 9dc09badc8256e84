"""The FHIR API served by a real node process at /fhir: signed-request authentication becomes
the requester, consent on the ledger decides what another organisation sees."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import tomllib
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from careledger.api.auth import sign_request
from careledger.daemon.config import FhirSettings, NodeConfig, load_node_config, save_node_config
from careledger.daemon.process import fhir_paths
from careledger.longitudinal.ledger import enrolment_payload
from careledger.node.consortium import ConsortiumConfig
from careledger.node.gateway import Gateway
from careledger.sim.demo_fhir import CONTRACT_POLICY, CONTRACTS, SyntheticPatient
from tests.api.nodes import Cluster, cluster

DOC = (Path(__file__).resolve().parents[2] / "docs" / "network.md").read_text()
KEY_ENV = "CARELEDGER_TEST_FHIR_MASTER_KEY"
FHIR_JSON = "application/fhir+json"


class _Gateways:
    """What SyntheticPatient needs of a network: each organisation's gateway."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def gateway(self, org: str) -> Gateway:
        service = self.cluster.nodes[org].service
        assert service is not None
        return service.gateway


def fhir_cluster(
    consortium: ConsortiumConfig,
    fhir: FhirSettings,
    fhir_orgs: tuple[str, ...] = ("Org1",),
    tls_dir: Path | None = None,
) -> AbstractAsyncContextManager[Cluster]:
    """Org1..Org3 nodes (peers of each other, one solo orderer); ``fhir_orgs`` serve FHIR."""

    def with_fhir(org: str, config: NodeConfig) -> NodeConfig:
        return dataclasses.replace(config, fhir=fhir) if org in fhir_orgs else config

    return cluster(
        consortium,
        contracts=CONTRACTS,
        policy=CONTRACT_POLICY,
        tls_dir=tls_dir,
        configure=with_fhir,
    )


async def _call(
    client: httpx.AsyncClient,
    consortium: ConsortiumConfig,
    method: str,
    target: str,
    body: Any = None,
    *,
    as_org: str | None = "Org1",
) -> httpx.Response:
    content = b"" if body is None else msgspec.json.encode(body)
    headers = {"content-type": FHIR_JSON} if body is not None else {}
    if as_org is not None:
        headers |= sign_request(consortium.member(as_org, "client0"), method, target, content)
    return await client.request(method, target, content=content, headers=headers)


PATIENT = {"resourceType": "Patient", "name": [{"family": "Testperson", "given": ["Ada"]}]}


def _observation(patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": patient},
        "effectiveDateTime": "2024-05-02T10:00:00Z",
        "valueQuantity": {"value": 72, "unit": "/min"},
    }


def test_node_serves_fhir_with_signed_requests_and_consent(
    consortium: ConsortiumConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, _key_text())

    async def main() -> None:
        async with fhir_cluster(
            consortium, FhirSettings(enabled=True, master_key_env=KEY_ENV)
        ) as c:
            org1 = c.nodes["Org1"]
            assert org1.fhir is not None
            async with httpx.AsyncClient(base_url=org1.url) as http:
                # create, read, search as the organisation's own (signed) user
                made = await _call(http, consortium, "POST", "/fhir/Patient", PATIENT)
                assert made.status_code == 201, made.text
                pid = made.json()["id"]
                assert made.headers["location"].startswith(f"{org1.url}/fhir/Patient/{pid}/")
                obs = await _call(
                    http, consortium, "POST", "/fhir/Observation", _observation(f"Patient/{pid}")
                )
                assert obs.status_code == 201, obs.text
                oid = obs.json()["id"]
                read = await _call(http, consortium, "GET", f"/fhir/Observation/{oid}")
                assert read.status_code == 200
                assert read.json()["valueQuantity"]["value"] == 72
                found = await _call(http, consortium, "GET", f"/fhir/Observation?patient={pid}")
                assert found.status_code == 200
                assert [e["resource"]["id"] for e in found.json()["entry"]] == [oid]

                # not signed: 401; signed badly: 401
                unsigned = await _call(
                    http, consortium, "GET", f"/fhir/Observation/{oid}", as_org=None
                )
                assert unsigned.status_code == 401
                assert unsigned.json()["resourceType"] == "OperationOutcome"
                forged = sign_request(consortium.member("Org2", "client0"), "GET", "/fhir/Patient")
                bad = await http.get(f"/fhir/Observation/{oid}", headers=forged)
                assert bad.status_code == 401

                # another organisation without consent: 403, search leaves it out, no writes
                other = await _call(
                    http, consortium, "GET", f"/fhir/Observation/{oid}", as_org="Org2"
                )
                assert other.status_code == 403, other.text
                assert other.json()["resourceType"] == "OperationOutcome"
                hidden = await _call(
                    http, consortium, "GET", f"/fhir/Observation?patient={pid}", as_org="Org2"
                )
                assert hidden.status_code == 200
                assert [
                    e for e in hidden.json().get("entry", []) if e["search"]["mode"] == "match"
                ] == []
                write = await _call(
                    http,
                    consortium,
                    "POST",
                    "/fhir/Observation",
                    _observation(f"Patient/{pid}"),
                    as_org="Org2",
                )
                assert write.status_code == 403

                # the patient enrols at Org1 and consents: Org2 may read, and it is on the ledger
                patient = SyntheticPatient()
                net: Any = _Gateways(c)
                await patient.anchor(net, "Org1")
                signature = patient.signer.sign(
                    enrolment_payload(patient.did, patient.handle, "Org1")
                )
                ledger = org1.fhir.ledger
                indexed = await ledger.enrol(
                    org1.fhir.service, f"Patient/{pid}", patient.did, patient.handle, signature
                )
                assert indexed == 2
                refused = await _call(
                    http, consortium, "GET", f"/fhir/Observation/{oid}", as_org="Org2"
                )
                assert refused.status_code == 403
                await patient.grant(net, "Org1", "Org2")
                allowed = await _call(
                    http, consortium, "GET", f"/fhir/Observation/{oid}", as_org="Org2"
                )
                assert allowed.status_code == 200, allowed.text
                await ledger.flush()
                entries = ledger.session.query("locator", "entries", [patient.handle, [], 0])
                assert sorted(e["resource_type"] for e in entries) == ["Observation", "Patient"]
                records = ledger.session.query("audit", "records", [patient.handle, 0, 2**42])
                assert {(r["action"], r["reason"], r["requester"]) for r in records} == {
                    ("deny", "no-consent", "Org2"),
                    ("disclose", "consent", "Org2"),
                }
                assert ledger.outbox.counts() == {}
            store, outbox, secret = fhir_paths(org1.config.fhir, org1.config.data_dir)
            assert store.exists()
            assert outbox.exists()
            assert secret.stat().st_mode & 0o777 == 0o600

    asyncio.run(main())


async def _settle(c: Cluster) -> None:
    """Until every node has committed every block the orderer has cut."""
    async with asyncio.timeout(10):
        while c.orderer.cutter.pending or any(
            node.peer is None or node.peer.height() < c.orderer.height for node in c.nodes.values()
        ):
            await asyncio.sleep(0.01)


def _enrolment(patient: SyntheticPatient, holder: str, *, handle: bool = True) -> dict[str, Any]:
    signature = patient.signer.sign(enrolment_payload(patient.did, patient.handle, holder))
    parameter: list[dict[str, Any]] = [
        {"name": "did", "valueUri": patient.did},
        {"name": "signature", "valueBase64Binary": base64.b64encode(signature).decode()},
    ]
    if handle:
        parameter.append({"name": "handle", "valueString": patient.handle})
    return {"resourceType": "Parameters", "parameter": parameter}


def _matches(bundle: Any) -> list[Any]:
    return [e for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def _outcome(bundle: Any) -> str:
    return " | ".join(
        issue["diagnostics"]
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == "outcome"
        for issue in e["resource"]["issue"]
    )


def _sources(entry: Any) -> list[str]:
    return sorted(x["valueString"] for x in entry["extension"] if "source" in x["url"])


@pytest.mark.parametrize("tls", [False, True], ids=["http", "mutual-tls"])
def test_enrol_over_http_and_everything_across_nodes(
    consortium: ConsortiumConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tls: bool
) -> None:
    """The patient enrols at three nodes over HTTP; Org1's $everything fetches Org2's and
    Org3's parts from their nodes with signed requests, so their consent decides. With TLS,
    every call (clients to nodes, node to node) is HTTPS with mutual TLS."""
    monkeypatch.setenv(KEY_ENV, _key_text())
    orgs = ("Org1", "Org2", "Org3")

    async def main() -> None:
        fhir = FhirSettings(enabled=True, master_key_env=KEY_ENV)
        tls_dir = tmp_path / "tls" if tls else None
        async with (
            fhir_cluster(consortium, fhir, orgs, tls_dir) as c,
            AsyncExitStack() as stack,
        ):
            assert all(n.url.startswith("https:" if tls else "http:") for n in c.nodes.values())
            http = {
                org: await stack.enter_async_context(
                    httpx.AsyncClient(base_url=c.nodes[org].url, verify=c.verify)
                )
                for org in orgs
            }
            net: Any = _Gateways(c)
            patient = SyntheticPatient()
            await patient.anchor(net, "Org1")
            await _settle(c)
            pid, observations = "ada-1", {}
            for org in orgs:
                put = await _call(http[org], consortium, "PUT", f"/fhir/Patient/{pid}",
                                  {**PATIENT, "id": pid}, as_org=org)  # fmt: skip
                assert put.status_code == 201, put.text
            for org in ("Org2", "Org3"):
                obs = await _call(http[org], consortium, "POST", "/fhir/Observation",
                                  _observation(f"Patient/{pid}"), as_org=org)  # fmt: skip
                assert obs.status_code == 201, obs.text
                observations[org] = obs.json()["id"]

            # $enrol: own users only, the patient's signature for this holder, an existing Patient
            target = f"/fhir/Patient/{pid}/$enrol"
            good = _enrolment(patient, "Org2")
            refusals = [
                (await _call(http["Org2"], consortium, "POST", target, good, as_org=None), 401),
                (await _call(http["Org2"], consortium, "POST", target, good, as_org="Org1"), 403),
                (await _call(http["Org2"], consortium, "POST", target,
                             _enrolment(patient, "Org1"), as_org="Org2"), 400),
                (await _call(http["Org2"], consortium, "POST", target,
                             _enrolment(patient, "Org2", handle=False), as_org="Org2"), 400),
                (await _call(http["Org2"], consortium, "POST", target,
                             {"resourceType": "Patient"}, as_org="Org2"), 400),
                (await _call(http["Org2"], consortium, "POST", "/fhir/Patient/nobody/$enrol",
                             good, as_org="Org2"), 404),
            ]  # fmt: skip
            for reply, status in refusals:
                assert reply.status_code == status, (status, reply.text)
                assert reply.json()["resourceType"] == "OperationOutcome"
            assert c.nodes["Org2"].fhir is not None
            assert c.nodes["Org2"].fhir.ledger.directory.by_patient(f"Patient/{pid}") is None
            for org, indexed in (("Org1", 1), ("Org2", 2), ("Org3", 2)):
                done = await _call(http[org], consortium, "POST", target,
                                   _enrolment(patient, org), as_org=org)  # fmt: skip
                assert done.status_code == 200, done.text
                assert {p["name"]: p for p in done.json()["parameter"]}["indexed"] == {
                    "name": "indexed",
                    "valueInteger": indexed,
                }
            await _settle(c)
            ledger = c.nodes["Org1"].fhir.ledger if c.nodes["Org1"].fhir else None
            assert ledger is not None
            entries = ledger.session.query("locator", "entries", [patient.handle, [], 0])
            assert sorted((e["holder"], e["resource_type"]) for e in entries) == [
                ("Org1", "Patient"),
                ("Org2", "Observation"),
                ("Org2", "Patient"),
                ("Org3", "Observation"),
                ("Org3", "Patient"),
            ]

            everything = f"/fhir/Patient/{pid}/$everything"
            # no consent: only Org1's own part; the others' refusals are in the outcome entry
            alone = await _call(http["Org1"], consortium, "GET", everything)
            assert alone.status_code == 200, alone.text
            assert alone.json()["total"] == 1
            assert _sources(_matches(alone.json())[0]) == ["Org1"]
            assert "Org2: refused" in _outcome(alone.json())
            assert "Org3: refused" in _outcome(alone.json())
            # another organisation asking Org1 gets Org1's holder part: none without consent
            other = await _call(http["Org1"], consortium, "GET", everything, as_org="Org2")
            assert other.status_code == 403, other.text

            await patient.grant(net, "Org1", "Org1")
            await _settle(c)
            full = (await _call(http["Org1"], consortium, "GET", everything)).json()
            assert full["total"] == 3, full
            assert _outcome(full) == ""
            got = _matches(full)
            assert got[0]["resource"]["resourceType"] == "Patient"
            assert _sources(got[0]) == ["Org1", "Org2", "Org3"]
            by_id = {e["resource"]["id"]: e for e in got[1:]}
            for org, oid in observations.items():
                assert _sources(by_id[oid]) == [org]
                assert by_id[oid]["fullUrl"] == f"{c.nodes[org].url}/fhir/Observation/{oid}"
            typed = await _call(
                http["Org1"], consortium, "GET", f"{everything}?_type=Observation&_count=1"
            )
            assert typed.status_code == 200, typed.text
            assert typed.json()["total"] == 2
            assert [e["resource"]["resourceType"] for e in _matches(typed.json())] == [
                "Observation"
            ]
            assert any(link["relation"] == "next" for link in typed.json()["link"])

            # each holder's node saw Org1 (the signing node) and audited its decisions
            for org in orgs:
                holder = c.nodes[org].fhir
                assert holder is not None
                await holder.ledger.flush()
            await _settle(c)
            records = ledger.session.query("audit", "records", [patient.handle, 0, 2**42])
            assert {(r["holder"], r["action"], r["reason"], r["requester"]) for r in records} == {
                ("Org1", "deny", "no-consent", "Org2"),
                *(
                    (holder, action, reason, "Org1")
                    for holder in ("Org2", "Org3")
                    for action, reason in (("deny", "no-consent"), ("disclose", "consent"))
                ),
            }

    asyncio.run(main())


def test_unsigned_requests_are_own_users_only_when_configured(
    consortium: ConsortiumConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, _key_text())

    async def main() -> None:
        fhir = FhirSettings(enabled=True, master_key_env=KEY_ENV, allow_unsigned=True)
        async with (
            fhir_cluster(consortium, fhir) as c,
            httpx.AsyncClient(base_url=c.nodes["Org1"].url) as http,
        ):
            made = await _call(http, consortium, "POST", "/fhir/Patient", PATIENT, as_org=None)
            assert made.status_code == 201, made.text
            read = await _call(
                http, consortium, "GET", f"/fhir/Patient/{made.json()['id']}", as_org=None
            )
            assert read.status_code == 200
            target = f"/fhir/Patient/{made.json()['id']}/$enrol"
            enrol = await _call(
                http, consortium, "POST", target, {"resourceType": "Parameters"}, as_org=None
            )
            assert enrol.status_code == 400, enrol.text  # authenticated as own user, bad body
            meta = await http.get("/fhir/metadata")
            assert meta.json()["resourceType"] == "CapabilityStatement"
            health = await http.get("/v1/health")
            assert health.status_code == 200  # the node API is unchanged

    asyncio.run(main())


def test_fhir_settings_round_trip_and_are_documented(tmp_path: Path) -> None:
    config = NodeConfig(
        org="Org1",
        consortium=tmp_path / "consortium",
        data_dir=tmp_path / "data",
        fhir=FhirSettings(
            enabled=True,
            store=str(tmp_path / "data" / "fhir.sqlite"),
            outbox=str(tmp_path / "data" / "outbox.sqlite"),
            secret_file=str(tmp_path / "secret"),
            base_url="https://org1.example/fhir",
            allow_unsigned=True,
        ),
    )
    path = tmp_path / "nodes" / "Org1.toml"
    path.parent.mkdir()
    save_node_config(config, path)
    doc = tomllib.loads(path.read_text())
    assert doc["fhir"]["store"] == "../data/fhir.sqlite"
    loaded = load_node_config(path)
    assert loaded.fhir == config.fhir
    for key in doc["fhir"]:
        assert f"`fhir.{key}`" in DOC, f"fhir.{key} is not documented in docs/network.md"
    bad = path.read_text().replace(
        'master_key_env = "CARELEDGER_FHIR_MASTER_KEY"', 'master_key_env = "a b"'
    )
    path.write_text(bad)
    with pytest.raises(Exception, match="master_key_env"):
        load_node_config(path)


def _key_text() -> str:
    import base64
    import os

    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
