"""The payer routes on real node processes (uvicorn on 127.0.0.1, endorsement over HTTP): a
provider's prior authorization request to the payer's node, decided there, read back."""

from __future__ import annotations

import asyncio

import httpx
import msgspec

from careledger.api.auth import sign_request
from careledger.node.consortium import ConsortiumConfig
from tests.api.nodes import cluster
from tests.payer.env import PAYER, PROVIDER, claim_response, pas_bundle, review_action


def test_prior_auth_on_real_nodes(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with cluster(consortium, contracts=("prior_auth",)) as c, httpx.AsyncClient() as web:
            payer_url = c.nodes[PAYER].url

            async def call(method: str, path: str, body: object, org: str) -> httpx.Response:
                raw = msgspec.json.encode(body) if body is not None else b""
                headers = sign_request(c.consortium.member(org, "client0"), method, path, raw)
                headers["Content-Type"] = "application/fhir+json"
                return await web.request(method, payer_url + path, content=raw, headers=headers)

            submitted = await call("POST", "/fhir/Claim/$submit", pas_bundle(), PROVIDER)
            assert submitted.status_code == 200, submitted.text
            number = claim_response(submitted.json())["preAuthRef"]
            decided = await call(
                "POST", f"/payer/prior-auth/{number}/decision", {"action": "A1"}, PAYER
            )
            assert decided.status_code == 200, decided.text
            assert review_action(claim_response(decided.json())) == "A1"
            read = await call("GET", f"/payer/prior-auth/{number}", None, PROVIDER)
            assert review_action(claim_response(read.json())) == "A1"
            # The provider's own node holds the same authorization (replicated ledger state).
            org1 = await c.client(PROVIDER)
            auth = await org1.evaluate("prior_auth", "authorization", [number])
            assert auth["status"] == "approved"
            spec = (await web.get(payer_url + "/openapi.json")).json()
            assert "/fhir/Claim/$submit" in spec["paths"]
            assert "/fhir/PractitionerRole" in spec["paths"]

    asyncio.run(main())
