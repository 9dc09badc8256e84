"""Independent verifiers against a running CareLedger node (real HTTP server on 127.0.0.1).

* Digital Bazaar's stack (``di.mjs verify --context-origin``) verifies health credentials whose
  health context URL is the node's ``/contexts/health/v1``, with a document loader that fetches
  that context from the node only (no bundled copy of it).
* ``@sd-jwt/sd-jwt-vc`` (``sdjwt.mjs``) sees a revoked CareLedger SD-JWT VC as revoked through the
  IETF Token Status List the node serves from the ledger.

Skipped like the other interop tests when node or node_modules is missing (install with
``npm ci --prefix tests/credentials/interop --no-audit --no-fund``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
from typing import Any

import pytest
from test_interop_digitalbazaar import HERE, SCRIPT, _unavailable
from tests.api.nodes import cluster

from careledger.contracts.trust_registry import binding_payload
from careledger.credentials import (
    INSURANCE_COVERAGE,
    Cryptosuite,
    ProofOptions,
    add_proof,
    build_credential,
    issue_credential,
    issue_sd_jwt_vc,
)
from careledger.credentials.sd_jwt import holder_jwk
from careledger.credentials.status.token_list import (
    TokenStatus,
    TokenStatusListIssuer,
    node_list_uri,
)
from careledger.daemon.config import CredentialsSettings, NodeConfig
from careledger.identity.did import Ed25519Signer
from careledger.identity.did.jwk import jwk_from_public_key
from careledger.node.consortium import ConsortiumConfig

SD_JWT_SCRIPT = HERE / "sdjwt.mjs"
CLAIMS = {
    "memberId": "M-77",
    "planId": "SILVER",
    "planName": "Silver HMO",
    "payerName": "Example Plan",
    "coverageStart": "2025-01-01",
}
SUBJECT = "did:key:z6MkffKsrxck6QdE2JRcsv1d4PTWuL6uRgUKMKDrGNMMsACJ"


@pytest.fixture(autouse=True)
def _js_available() -> None:
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("CARELEDGER_REQUIRE_INTEROP") == "1":
            pytest.fail(f"CARELEDGER_REQUIRE_INTEROP=1 but {reason}")
        pytest.skip(f"JS interop: {reason}")


async def _run_node(script: Any, args: list[str], items: list[Any]) -> dict[str, Any]:
    """Run a Node script without blocking the event loop (the CareLedger node answers it)."""
    proc = await asyncio.create_subprocess_exec(
        str(shutil.which("node")),
        str(script),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(json.dumps(items).encode()), 120)
    assert proc.returncode == 0, f"{script} failed:\n{err.decode()}"
    result: dict[str, Any] = json.loads(out)
    assert len(result["results"]) == len(items)
    return result


def _own_context(org: str, config: NodeConfig) -> NodeConfig:
    url = f"http://127.0.0.1:{config.http.port}/contexts/health/v1"
    return dataclasses.replace(config, credentials=CredentialsSettings(health_context_url=url))


def _claims(payer: Ed25519Signer) -> dict[str, Any]:
    return {**CLAIMS, "payerId": payer.did_key}


def test_digitalbazaar_verifies_with_the_context_from_the_node_only(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with cluster(consortium, orgs=("Org1",), contracts=(), configure=_own_context) as c:
            base = c.nodes["Org1"].url
            context_url = f"{base}/contexts/health/v1"
            issued: list[dict[str, Any]] = []
            for suite in (Cryptosuite.EDDSA_RDFC_2022, Cryptosuite.EDDSA_JCS_2022):
                payer = Ed25519Signer()
                issued.append(
                    issue_credential(
                        INSURANCE_COVERAGE,
                        payer,
                        payer.did_key_verification_method,
                        SUBJECT,
                        _claims(payer),
                        suite=suite,
                        health_context=context_url,
                    )
                )
            payer = Ed25519Signer()  # Ed25519Signature2020 needs the VC 1.1 data model
            doc = build_credential(INSURANCE_COVERAGE, payer.did_key, SUBJECT, _claims(payer))
            doc["@context"] = [
                "https://www.w3.org/2018/credentials/v1",
                "https://w3id.org/security/suites/ed25519-2020/v1",
                context_url,
            ]
            doc["issuanceDate"] = doc.pop("validFrom")
            issued.append(
                add_proof(
                    doc,
                    payer,
                    ProofOptions(payer.did_key_verification_method),
                    Cryptosuite.ED25519_SIGNATURE_2020,
                )
            )
            forged = json.loads(json.dumps(issued[0]))
            forged["credentialSubject"]["memberId"] = "M-9999999"

            out = await _run_node(SCRIPT, ["verify", "--context-origin", base], [*issued, forged])
            for credential, result in zip(issued, out["results"], strict=False):
                suite = credential["proof"].get("cryptosuite", credential["proof"]["type"])
                assert result["verified"], (suite, result["errors"])
            assert not out["results"][-1]["verified"]
            assert set(out["fetched"]) == {context_url}

            # Without the node the loader has no such context: the suites that expand JSON-LD
            # (eddsa-rdfc-2022, Ed25519Signature2020) refuse; eddsa-jcs-2022 signs the JSON as
            # is and Digital Bazaar's jcs suite does not load URL contexts at all.
            offline = await _run_node(SCRIPT, ["verify"], issued)
            assert [r["verified"] for r in offline["results"]] == [False, True, False]
            for result in (offline["results"][0], offline["results"][2]):
                assert any(context_url in e for e in result["errors"]), result

    asyncio.run(main())


def test_sd_jwt_vc_library_sees_a_revoked_careledger_credential_as_revoked(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        contracts = ("status_lists", "trust_registry")
        async with cluster(consortium, orgs=("Org1", "Org2"), contracts=contracts) as c:
            payer, patient = Ed25519Signer(), Ed25519Signer()
            admin = await c.client("Org1", "admin")
            signature = payer.sign(binding_payload(payer.did_key, "Org1", 1))
            await admin.submit("trust_registry", "bind_issuer", [payer.did_key, signature])
            base = c.nodes["Org1"].url
            lists = TokenStatusListIssuer(
                node_list_uri(base, "Org1", "coverage-r"),
                payer.did_key_verification_method,
                size=1024,
            )
            revoked, kept = lists.allocate(), lists.allocate()

            def credential(reference: dict[str, Any]) -> str:
                return issue_sd_jwt_vc(
                    INSURANCE_COVERAGE,
                    payer,
                    payer.did_key_verification_method,
                    _claims(payer),
                    holder_jwk(patient),
                    status_list=reference,
                )

            async def publish() -> None:
                token = lists.token(payer).encode("ascii")
                await admin.submit("status_lists", "publish_token", [token])

            jwk = jwk_from_public_key(payer.public_key)
            items = [
                {"sdJwt": credential(ref), "issuerJwk": jwk, "statusOrigin": base}
                for ref in (revoked, kept)
            ]
            await publish()
            before = await _run_node(SD_JWT_SCRIPT, ["verify"], items)
            assert [r["verified"] for r in before["results"]] == [True, True], before
            assert before["results"][0]["statuses"] == [0]

            lists.set_status(revoked["status_list"]["idx"], TokenStatus.INVALID)
            await publish()
            after = await _run_node(SD_JWT_SCRIPT, ["verify"], items)
            refused, still = after["results"]
            assert not refused["verified"]
            assert refused["statuses"] == [TokenStatus.INVALID]
            assert "Status is not valid" in refused["error"]
            assert refused["fetched"] == [lists.uri]
            assert still["verified"], still["error"]

    asyncio.run(main())


def test_digitalbazaar_key_shapes_and_jcs_context_arrays() -> None:
    """What docs/credentials.md says about Digital Bazaar: Ed25519Signature2020 5.4.0 accepts a
    Multikey verification method; its eddsa-jcs-2022 1.0.0 accepts URL-only ``@context`` arrays
    and refuses one with an inline context object (it compares entries with ``!==``)."""

    async def main() -> None:
        signer = Ed25519Signer()
        vm = signer.did_key_verification_method
        doc = build_credential(INSURANCE_COVERAGE, signer.did_key, SUBJECT, _claims(signer))
        vc11 = {**doc, "issuanceDate": doc["validFrom"]}
        del vc11["validFrom"]
        vc11["@context"] = [
            "https://www.w3.org/2018/credentials/v1",
            "https://w3id.org/security/suites/ed25519-2020/v1",
            "https://careledger.dev/contexts/health/v1",
        ]
        ed2020 = add_proof(vc11, signer, ProofOptions(vm), Cryptosuite.ED25519_SIGNATURE_2020)
        jcs_urls = add_proof(doc, signer, ProofOptions(vm), Cryptosuite.EDDSA_JCS_2022)
        inline = {**doc, "@context": [*doc["@context"], {"note": "https://example.org/note"}]}
        jcs_inline = add_proof(inline, signer, ProofOptions(vm), Cryptosuite.EDDSA_JCS_2022)
        out = await _run_node(
            SCRIPT, ["verify", "--ed2020-multikey"], [ed2020, jcs_urls, jcs_inline]
        )
        multikey, urls, inline_result = out["results"]
        assert multikey["verified"], multikey["errors"]
        assert urls["verified"], urls["errors"]
        assert not inline_result["verified"]
        assert any("does not start with proof.@context" in e for e in inline_result["errors"])

    asyncio.run(main())
