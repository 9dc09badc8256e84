"""The provider directory's routes: Plan-Net reads and searches at ``/fhir/<Type>`` (public, as
CMS requires of provider directory APIs: no signature needed), and the signed writes —
publishing entries, reporting and resolving discrepancies, the corrections figures.

=====================================================  =====================================
``GET  /fhir/{Type}`` and ``/fhir/{Type}/{id}``        Practitioner, PractitionerRole,
                                                       Organization (and networks), Location,
                                                       HealthcareService, InsurancePlan,
                                                       Endpoint
``POST /payer/directory/entries``                      publish an entry of the caller's org
``POST /payer/directory/corrections``                  report a discrepancy
``GET  /payer/directory/corrections``                  every report and its state
``POST /payer/directory/corrections/{id}/resolution``  the owner confirms or denies
``GET  /payer/directory/metrics?year=``                % corrected, median days to correct
=====================================================  =====================================
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Any

from fastapi import FastAPI, Request

from careledger.access import Rule, access
from careledger.errors import InvalidInput
from careledger.identity.msp import MemberCert
from careledger.node.gateway import Gateway
from careledger.payer.directory.desk import DirectoryDesk
from careledger.payer.directory.plan_net import FHIR_TYPES, DirectoryReader
from careledger.payer.http import json_object, json_route, public_fhir_route, require_own_user

_HEX64 = "0123456789abcdef"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def add_directory_routes(
    app: FastAPI, gateway: Gateway, reader: DirectoryReader, desk: DirectoryDesk
) -> None:
    fhir: list[str | Enum] = ["directory"]
    for fhir_type in FHIR_TYPES:

        async def search(request: Request, fhir_type: str = fhir_type) -> Any:
            """Plan-Net search (a searchset Bundle); public."""
            params = list(request.query_params.multi_items())
            return await reader.search(fhir_type, params, _base(request))

        async def read(request: Request, fhir_type: str = fhir_type) -> Any:
            """Read one directory resource; public."""
            return await reader.read(fhir_type, str(request.path_params["entry_id"]))

        app.add_api_route(
            f"/fhir/{fhir_type}",
            public_fhir_route(search),
            methods=["GET"],
            tags=fhir,
            openapi_extra=access(Rule.OPEN),
        )
        app.add_api_route(
            f"/fhir/{fhir_type}/{{entry_id}}",
            public_fhir_route(read),
            methods=["GET"],
            tags=fhir,
            openapi_extra=access(Rule.OPEN),
        )

    def own_users(member: MemberCert) -> None:
        require_own_user(member, gateway.identity.org, "write through this node")

    async def publish(_r: Request, member: MemberCert, body: bytes) -> Any:
        """Publish an entry of the node's organisation (a role with its licence credential)."""
        own_users(member)
        return await desk.publish(json_object(body))

    async def report(_r: Request, member: MemberCert, body: bytes) -> Any:
        """Report a discrepancy in a directory entry."""
        own_users(member)
        return await desk.report(json_object(body))

    async def corrections(_r: Request, _m: MemberCert, _b: bytes) -> Any:
        """Every correction report and its state."""
        return {"corrections": await desk.corrections()}

    async def resolve(request: Request, member: MemberCert, body: bytes) -> Any:
        """The entry owner confirms or denies a report."""
        own_users(member)
        correction = str(request.path_params["correction"])
        if len(correction) != 64 or set(correction) - set(_HEX64):
            raise InvalidInput("a correction id is 64 hex characters")
        return await desk.resolve(correction, json_object(body))

    async def metrics(request: Request, _m: MemberCert, _b: bytes) -> Any:
        """Corrections figures of a year: % corrected, median days to correct."""
        raw = request.query_params.get("year", "")
        if not raw.isdigit() or not 1970 <= int(raw) <= 9999:
            raise InvalidInput("year: a year, e.g. ?year=2026")
        figures = await desk.figures(int(raw), int(time.time() * 1000))
        return figures.to_json()

    tags: list[str | Enum] = ["directory"]
    base = "/payer/directory"
    any_member, own = access(Rule.MEMBER), access(Rule.OWN_ORG)
    for path, method, handler, rule in (
        (f"{base}/entries", "POST", publish, own),
        (f"{base}/corrections", "POST", report, own),
        (f"{base}/corrections", "GET", corrections, any_member),
        (f"{base}/corrections/{{correction}}/resolution", "POST", resolve, own),
        (f"{base}/metrics", "GET", metrics, any_member),
    ):
        app.add_api_route(
            path, json_route(gateway, handler), methods=[method], tags=tags, openapi_extra=rule
        )
