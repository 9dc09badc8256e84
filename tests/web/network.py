"""A three-organisation consortium of real uvicorn nodes on 127.0.0.1 serving FHIR and the UI,
run on its own event loop in a background thread (the browser tests drive Playwright's sync
API on the main thread).

The data: one synthetic patient with a DID, a Patient at every organisation (Org1's carries an
XSS payload as its name) and an Observation at Org2 and Org3, enrolled at all three; two prior
authorization requests Org2 sent to Org1 (the payer; the member's name an XSS payload), pended;
the patient's wallet and Org1's ``admin`` and ``client0`` keys are offered on Org1's login pages
and Org2's on Org2's (demo wallets, as ``careledger demo --serve`` does).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from careledger.api.auth import sign_request
from careledger.daemon.config import FhirSettings, NodeConfig
from careledger.longitudinal.ledger import enrolment_payload
from careledger.node.consortium import ConsortiumConfig
from careledger.node.gateway import Gateway
from careledger.sim.demo_fhir import CONTRACT_POLICY, CONTRACTS, SyntheticPatient
from careledger.sim.payer_workload import pas_request
from careledger.web.context import DemoStaffKeys, DemoWallet, DemoWallets
from tests.api.nodes import Cluster, cluster

KEY_ENV = "CARELEDGER_TEST_WEB_FHIR_KEY"
ORGS = ("Org1", "Org2", "Org3")
PATIENT_ID = "web-1"
GIVEN, FAMILY = "Wilhelmina", "Quarterstaff"
BIRTH_DATE = "1961-07-14"
XSS = '<img src=x onerror="window.__xss=1">'
PHI = (GIVEN, FAMILY, BIRTH_DATE)


class _Gateways:
    def __init__(self, c: Cluster) -> None:
        self.c = c

    def gateway(self, org: str) -> Gateway:
        service = self.c.nodes[org].service
        assert service is not None
        return service.gateway


@dataclass
class WebNetwork:
    consortium: ConsortiumConfig
    log_file: Path
    urls: dict[str, str] = field(default_factory=dict)
    patient: SyntheticPatient = field(default_factory=SyntheticPatient)
    cluster: Cluster | None = None
    prior_auths: list[str] = field(default_factory=list)
    """Numbers of the prior authorization requests Org2 sent to Org1, pended at the start."""
    loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _stop: asyncio.Event | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None

    @property
    def url(self) -> str:
        return self.urls["Org1"]

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        """Run ``coro`` on the network's loop and wait for its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        os.environ.setdefault(KEY_ENV, base64.urlsafe_b64encode(os.urandom(32)).decode())
        self._thread = threading.Thread(target=self._main, name="web-network", daemon=True)
        self._thread.start()
        if not self._ready.wait(120):
            raise TimeoutError("the web test network did not start within 120 s")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(60)

    def _main(self) -> None:
        handler = logging.FileHandler(self.log_file)
        handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        previous = root.level
        root.setLevel(logging.DEBUG)
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
        finally:
            root.removeHandler(handler)
            root.setLevel(previous)
            handler.close()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        fhir = FhirSettings(enabled=True, master_key_env=KEY_ENV)

        def with_fhir(_org: str, config: NodeConfig) -> NodeConfig:
            return dataclasses.replace(config, fhir=fhir)

        async with cluster(
            self.consortium,
            contracts=(*CONTRACTS, "prior_auth"),
            policy=CONTRACT_POLICY,
            configure=with_fhir,
        ) as c:
            self.cluster = c
            self.urls = {org: node.url for org, node in c.nodes.items()}
            await self._populate(c)
            self._ready.set()
            await self._stop.wait()

    async def _populate(self, c: Cluster) -> None:
        net: Any = _Gateways(c)
        await self.patient.anchor(net, "Org1")
        await settle(c)
        for org in ORGS:
            name: dict[str, Any] = {"family": FAMILY, "given": [GIVEN]}
            if org == "Org1":
                name = {"family": XSS, "given": [GIVEN]}
            patient = {"resourceType": "Patient", "id": PATIENT_ID, "name": [name],
                       "birthDate": BIRTH_DATE}  # fmt: skip
            await fhir_call(c, org, "PUT", f"/fhir/Patient/{PATIENT_ID}", patient)
            if org != "Org1":
                await fhir_call(c, org, "POST", "/fhir/Observation", observation(org))
            signature = self.patient.signer.sign(
                enrolment_payload(self.patient.did, self.patient.handle, org)
            )
            enrol = {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "did", "valueUri": self.patient.did},
                    {"name": "handle", "valueString": self.patient.handle},
                    {"name": "signature",
                     "valueBase64Binary": base64.b64encode(signature).decode()},
                ],
            }  # fmt: skip
            await fhir_call(c, org, "POST", f"/fhir/Patient/{PATIENT_ID}/$enrol", enrol)
        for _ in range(2):  # Org2 asks Org1 (the payer) for prior authorizations
            bundle = pas_request(payer="Org1", member_system="urn:careledger:member",
                                 member_id="M-WEB-1", patient_name=(XSS, GIVEN))  # fmt: skip
            answer = await fhir_call(c, "Org2", "POST", "/fhir/Claim/$submit", bundle, at="Org1")
            self.prior_auths.append(answer["entry"][0]["resource"]["preAuthRef"])
        await settle(c)
        wallets = DemoWallets()
        wallets.add(DemoWallet(self.patient.signer, self.patient.did, f"{self.patient.did}#key-1"))
        for org in ("Org1", "Org2"):
            ui = c.nodes[org].ui
            assert ui is not None
            keys = DemoStaffKeys()
            for member in ("admin", "client0"):
                keys.add(self.consortium.member(org, member))
            ui.wallets, ui.staff_keys = wallets, keys


def observation(org: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4",
                             "display": f"Heart rate at {org}"}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectiveDateTime": "2024-05-02T10:00:00Z",
        "valueQuantity": {"value": 72, "unit": "/min"},
    }  # fmt: skip


async def fhir_call(c: Cluster, org: str, method: str, target: str, body: Any, at: str = "") -> Any:
    """A request signed by ``org``'s ``client0`` to ``at``'s node (default: its own)."""
    content = msgspec.json.encode(body)
    headers = {"content-type": "application/fhir+json"}
    headers |= sign_request(c.consortium.member(org, "client0"), method, target, content)
    async with httpx.AsyncClient(base_url=c.nodes[at or org].url) as http:
        reply = await http.request(method, target, content=content, headers=headers)
    if reply.status_code >= 300:
        raise AssertionError(f"{method} {target} at {org}: {reply.status_code} {reply.text}")
    return reply.json()


async def settle(c: Cluster) -> None:
    """Until every node has committed every block the orderer has cut (10 s at most)."""
    async with asyncio.timeout(10):
        while c.orderer.cutter.pending or any(
            node.peer is None or node.peer.height() < c.orderer.height for node in c.nodes.values()
        ):
            await asyncio.sleep(0.01)


def until(check: Callable[[], bool], timeout: float = 20.0, step: Callable[[], None] | None = None
          ) -> None:  # fmt: skip
    """Call ``step`` (e.g. reload the page) until ``check()`` holds, at most ``timeout`` s."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        if step is not None:
            step()
        time.sleep(0.2)
