"""What a running node (real HTTP server on 127.0.0.1) publishes for verifiers outside the
consortium: the health JSON-LD context and IETF status list tokens from the ledger."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyld import jsonld
from tests.api.nodes import Cluster, cluster

from careledger.api.codec import b64d
from careledger.contracts.trust_registry import binding_payload
from careledger.credentials import (
    INSURANCE_COVERAGE,
    Cryptosuite,
    InMemoryTrustRegistry,
    PresentationRequest,
    ReasonCode,
    UnknownContext,
    Verifier,
    issue_credential,
    issue_sd_jwt_vc,
    verify_proof,
)
from careledger.credentials.document_loader import load_document, pyld_loader
from careledger.credentials.health_context import (
    CACHE_CONTROL,
    accept_health_context_url,
    content_addressed_path,
    health_context_bytes,
    health_context_sha256,
    node_context_urls,
)
from careledger.credentials.sd_jwt import holder_jwk, present
from careledger.credentials.status.token_list import (
    MEDIA_TYPE,
    TokenStatus,
    TokenStatusListIssuer,
    node_list_uri,
)
from careledger.daemon.config import CredentialsSettings, NodeConfig
from careledger.errors import CareLedgerError, InvalidInput
from careledger.identity.did import DidKeyMethod, DidResolver, Ed25519Signer
from careledger.identity.did.keys import PublicKey, b58decode
from careledger.node.consortium import ConsortiumConfig

CLAIMS = {
    "memberId": "M-1002003",
    "planId": "GOLD-PPO",
    "planName": "Gold PPO",
    "payerName": "Example Health Plan",
    "coverageStart": "2025-01-01",
}


def _own_context(org: str, config: NodeConfig) -> NodeConfig:
    """Each node names its own /contexts/health/v1 as its credentials' health context."""
    url = f"http://127.0.0.1:{config.http.port}/contexts/health/v1"
    return dataclasses.replace(config, credentials=CredentialsSettings(health_context_url=url))


@asynccontextmanager
async def _node(consortium: ConsortiumConfig, **kw: Any) -> AsyncIterator[Cluster]:
    async with cluster(consortium, orgs=("Org1",), contracts=(), configure=_own_context, **kw) as c:
        yield c


def node_only_loader(origin: str, seen: list[str]) -> Callable[..., dict[str, Any]]:
    """A pyld document loader that fetches from ``origin`` (and nowhere else on the network);
    W3C contexts come from the shipped files as any verifier bundles them, the health context
    only from the node."""

    def load(url: str, options: Any = None) -> dict[str, Any]:
        if url.startswith(origin + "/"):
            reply = httpx.get(url, headers={"Accept": "application/ld+json"})
            reply.raise_for_status()
            seen.append(url)
            return {"contextUrl": None, "documentUrl": url, "document": reply.json()}
        if "careledger" in url:
            raise jsonld.JsonLdError(f"refusing {url}", "loading document failed")
        return pyld_loader(url, options)

    return load


def _rdfc_signature_verifies(credential: dict[str, Any], loader: Callable[..., Any]) -> bool:
    """eddsa-rdfc-2022 verification (vc-di-eddsa §3.3) with pyld as the JSON-LD processor and
    ``loader`` as its only source of contexts; the Ed25519 check is CareLedger's (PyNaCl)."""
    proof = dict(credential["proof"])
    signature = b58decode(proof.pop("proofValue")[1:])
    document = {k: v for k, v in credential.items() if k != "proof"}
    options = {"algorithm": "URDNA2015", "format": "application/n-quads", "documentLoader": loader}

    def digest(value: dict[str, Any]) -> bytes:
        return hashlib.sha256(str(jsonld.normalize(value, options)).encode()).digest()

    config = {"@context": document["@context"], **proof}
    key = PublicKey.from_multikey(proof["verificationMethod"].split("#", 1)[1])
    return key.verify(digest(config) + digest(document), signature)


# -- the health context ---------------------------------------------------------------------------
def test_node_serves_the_health_context_immutably(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with _node(consortium) as c, httpx.AsyncClient() as http:
            versioned, immutable = node_context_urls(c.nodes["Org1"].url)
            assert immutable.endswith(f"/contexts/sha256-{health_context_sha256()}.jsonld")
            for url in (versioned, immutable):
                reply = await http.get(url)  # no member signature: public vocabulary
                assert reply.status_code == 200
                assert reply.headers["content-type"] == "application/ld+json"
                assert reply.headers["cache-control"] == CACHE_CONTROL
                assert reply.headers["etag"] == f'"sha256-{health_context_sha256()}"'
                assert reply.content == health_context_bytes()
                assert hashlib.sha256(reply.content).hexdigest() == health_context_sha256()
                again = await http.get(url, headers={"If-None-Match": reply.headers["etag"]})
                assert again.status_code == 304
                assert again.content == b""
            other = "/contexts/sha256-" + "0" * 64 + ".jsonld"
            missing = await http.get(c.nodes["Org1"].url + other)
            assert missing.status_code == 404
            assert missing.json()["type"] == "NotFound"

    asyncio.run(main())


@pytest.mark.parametrize("suite", [Cryptosuite.EDDSA_RDFC_2022, Cryptosuite.EDDSA_JCS_2022])
def test_credential_naming_the_node_context_verifies_through_the_node_only(
    consortium: ConsortiumConfig, suite: Cryptosuite
) -> None:
    async def main() -> None:
        async with _node(consortium) as c:
            base = c.nodes["Org1"].url
            url = f"{base}/contexts/health/v1"
            payer = Ed25519Signer()
            credential = issue_credential(
                INSURANCE_COVERAGE,
                payer,
                payer.did_key_verification_method,
                Ed25519Signer().did_key,
                {**CLAIMS, "payerId": payer.did_key},
                suite=suite,
                health_context=url,
            )
            assert url in credential["@context"]
            seen: list[str] = []
            loader = node_only_loader(base, seen)

            def expand(loader: Callable[..., dict[str, Any]]) -> str:
                options = {"algorithm": "URDNA2015", "format": "application/n-quads"}
                return str(jsonld.normalize(credential, {**options, "documentLoader": loader}))

            # An independent JSON-LD processor with the node's bytes finds what CareLedger's
            # bundled file means: every claim is defined, the RDF dataset is the same.
            via_node = await asyncio.to_thread(expand, loader)
            assert seen == [url]
            assert "https://careledger.dev/vocab/health#memberId" in via_node
            assert via_node == await asyncio.to_thread(expand, pyld_loader)

            if suite is Cryptosuite.EDDSA_RDFC_2022:
                # And the signature verifies over pyld's canonical form with that loader alone.
                assert await asyncio.to_thread(_rdfc_signature_verifies, credential, loader)
                forged = json.loads(json.dumps(credential))
                forged["credentialSubject"]["memberId"] = "M-9999999"
                assert not await asyncio.to_thread(_rdfc_signature_verifies, forged, loader)
                assert set(seen) == {url}

            # The node (which configured this URL) accepts it; a verifier elsewhere pins it
            # after checking that the bytes it fetched are the shipped file's.
            keys = DidResolver([DidKeyMethod()])
            assert verify_proof(credential, keys).ok
            async with httpx.AsyncClient() as http:
                fetched = (await http.get(url)).content
            accept_health_context_url(url, sha256=hashlib.sha256(fetched).hexdigest())
            assert verify_proof(credential, keys).ok

    asyncio.run(main())


def test_content_addressed_urls_are_accepted_from_any_host() -> None:
    url = "https://any.example/x" + content_addressed_path()
    assert load_document(url) == json.loads(health_context_bytes())
    with pytest.raises(UnknownContext):
        load_document("https://any.example/contexts/sha256-" + "1" * 64 + ".jsonld")


def test_an_alias_must_hold_the_same_bytes() -> None:
    url = "https://payer.example/contexts/health/v1"
    with pytest.raises(UnknownContext, match="is not the shipped"):
        accept_health_context_url(url, sha256="0" * 64)
    with pytest.raises(UnknownContext):
        load_document(url)
    accept_health_context_url(url, sha256=health_context_sha256())
    assert load_document(url) == json.loads(health_context_bytes())
    with pytest.raises(UnknownContext, match="cannot be replaced"):
        accept_health_context_url("https://www.w3.org/ns/credentials/v2")


@pytest.mark.parametrize(
    "url",
    [
        "http://payer.example/contexts/health/v1",
        "https://payer.example/c?v=1",
        "https://user@payer.example/c",
        "ftp://payer.example/c",
        "https:///c",
    ],
)
def test_context_url_setting_is_validated(url: str, tmp_path: Path) -> None:
    from careledger.daemon.config import load_node_config

    path = tmp_path / "node.toml"
    path.write_text(
        'org = "Org1"\nconsortium = "c"\ndata_dir = "d"\n'
        f'[credentials]\nhealth_context_url = "{url}"\n'
    )
    with pytest.raises(InvalidInput, match=r"credentials\.health_context_url"):
        load_node_config(path)


def test_context_url_setting_round_trips(tmp_path: Path) -> None:
    from careledger.daemon.config import load_node_config, save_node_config

    path = tmp_path / "node.toml"
    path.write_text(
        'org = "Org1"\nconsortium = "c"\ndata_dir = "d"\n'
        '[credentials]\nhealth_context_url = "https://payer.example/contexts/health/v1"\n'
    )
    config = load_node_config(path)
    assert config.credentials.health_context_url == "https://payer.example/contexts/health/v1"
    save_node_config(config, tmp_path / "again.toml")
    assert load_node_config(tmp_path / "again.toml") == config
    path.write_text('org = "Org1"\nconsortium = "c"\ndata_dir = "d"\n')
    default = load_node_config(path).credentials.health_context_url
    assert default == "https://careledger.dev/contexts/health/v1"


# -- status list tokens ---------------------------------------------------------------------------
IDENTITY = ("status_lists", "trust_registry")


@dataclasses.dataclass
class TokenScenario:
    cluster: Cluster
    payer: Ed25519Signer
    patient: Ed25519Signer
    lists: TokenStatusListIssuer
    reference: dict[str, Any]
    sd_jwt: str

    async def publish(self) -> dict[str, Any]:
        admin = await self.cluster.client("Org1", "admin")
        token = self.lists.token(self.payer).encode("ascii")
        done = await admin.submit("status_lists", "publish_token", [token])
        result: dict[str, Any] = done.result
        return result


@asynccontextmanager
async def token_scenario(consortium: ConsortiumConfig) -> AsyncIterator[TokenScenario]:
    """Org1's payer (a did:key bound to Org1) issues an SD-JWT VC whose status is entry idx of
    a token status list published through the ledger and served by Org1's node."""
    async with cluster(consortium, orgs=("Org1", "Org2"), contracts=IDENTITY) as c:
        payer, patient = Ed25519Signer(), Ed25519Signer()
        admin = await c.client("Org1", "admin")
        signature = payer.sign(binding_payload(payer.did_key, "Org1", 1))
        await admin.submit("trust_registry", "bind_issuer", [payer.did_key, signature])
        uri = node_list_uri(c.nodes["Org1"].url, "Org1", "coverage-r")
        lists = TokenStatusListIssuer(uri, payer.did_key_verification_method, size=1024)
        reference = lists.allocate()
        sd_jwt = issue_sd_jwt_vc(
            INSURANCE_COVERAGE,
            payer,
            payer.did_key_verification_method,
            {**CLAIMS, "payerId": payer.did_key},
            holder_jwk(patient),
            status_list=reference,
        )
        scenario = TokenScenario(c, payer, patient, lists, reference, sd_jwt)
        await scenario.publish()
        yield scenario


class HttpStatusSource:
    """A verifier's StatusListSource reading the node over HTTP (blocking: run it in a thread)."""

    def get(self, url: str) -> bytes | None:
        reply = httpx.get(url, headers={"Accept": MEDIA_TYPE})
        return reply.content if reply.status_code == 200 else None


def test_node_serves_the_token_and_a_verifier_sees_revocation(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with token_scenario(consortium) as s, httpx.AsyncClient() as http:
            uri = s.lists.uri
            reply = await http.get(uri, headers={"Accept": MEDIA_TYPE})  # open to anyone
            assert reply.status_code == 200
            assert reply.headers["content-type"] == MEDIA_TYPE
            assert reply.headers["cache-control"] == "no-cache"
            # Every node serves what the ledger holds, at the same path.
            path = uri.removeprefix(s.cluster.nodes["Org1"].url)
            other = await http.get(s.cluster.nodes["Org2"].url + path)
            assert other.content == reply.content
            unchanged = await http.get(uri, headers={"If-None-Match": reply.headers["etag"]})
            assert unchanged.status_code == 304
            missing = await http.get(s.cluster.nodes["Org1"].url + "/status-lists/Org1/nope")
            assert missing.status_code == 404

            trust = InMemoryTrustRegistry()
            trust.trust(s.payer.did_key, INSURANCE_COVERAGE.vct)
            verifier = Verifier(DidResolver([DidKeyMethod()]), trust, HttpStatusSource())

            def check() -> list[ReasonCode]:
                req = PresentationRequest.new(INSURANCE_COVERAGE.vct, ("memberId",), "did:web:v")
                shown = present(s.sd_jwt, req.claims, s.patient, req.audience, req.nonce)
                return verifier.verify_sd_jwt(shown, req).codes

            assert await asyncio.to_thread(check) == []
            s.lists.set_status(s.reference["status_list"]["idx"], TokenStatus.INVALID)
            assert (await s.publish())["sequence"] == 2
            assert await asyncio.to_thread(check) == [ReasonCode.REVOKED]

    asyncio.run(main())


def test_the_ledger_keeps_token_lists_honest(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with token_scenario(consortium) as s:
            index = s.reference["status_list"]["idx"]
            s.lists.set_status(index, TokenStatus.INVALID)
            await s.publish()
            admin = await s.cluster.client("Org1", "admin")

            async def refused(token: str, match: str) -> None:
                with pytest.raises(CareLedgerError, match=match):
                    await admin.submit("status_lists", "publish_token", [token.encode()])

            # Revocation is final on the ledger too (the issuer object would refuse it).
            reinstated = TokenStatusListIssuer(s.lists.uri, s.lists.kid, size=1024)
            await refused(reinstated.token(s.payer), "revocation is final")
            resized = TokenStatusListIssuer(s.lists.uri, s.lists.kid, size=2048)
            resized.set_status(index, TokenStatus.INVALID)
            await refused(resized.token(s.payer), "cannot change")
            base = s.cluster.nodes["Org1"].url
            theirs = TokenStatusListIssuer(node_list_uri(base, "Org2", "x"), s.lists.kid)
            await refused(theirs.token(s.payer), "publishes only under /status-lists/Org1/")
            stranger = Ed25519Signer()
            unbound = TokenStatusListIssuer(
                node_list_uri(base, "Org1", "y"), stranger.did_key_verification_method
            )
            await refused(unbound.token(stranger), "not bound to Org1")
            await refused("not.a.token", "status list token")
            client = await s.cluster.client("Org1", "client0")
            with pytest.raises(CareLedgerError, match="organisation admin"):
                await client.submit("status_lists", "publish_token", [b"x"])
            # The ledger's get answers by URI, as for W3C lists (the LedgerStatusListSource).
            found = await admin.evaluate("status_lists", "get", [s.lists.uri])
            async with httpx.AsyncClient() as http:
                assert b64d(found, "token", 1 << 20) == (await http.get(s.lists.uri)).content
            assert await admin.evaluate("status_lists", "get", [s.lists.uri + "x"]) is None

    asyncio.run(main())


def test_expired_token_window(consortium: ConsortiumConfig) -> None:
    """A verifier refuses a token past its exp even when the node still serves it."""

    async def main() -> None:
        async with token_scenario(consortium) as s:
            admin = await s.cluster.client("Org1", "admin")
            stale = s.lists.token(
                s.payer, now=(datetime.now(UTC) - timedelta(days=3)).timestamp(), lifetime=60
            )
            await admin.submit("status_lists", "publish_token", [stale.encode()])
            trust = InMemoryTrustRegistry()
            trust.trust(s.payer.did_key, INSURANCE_COVERAGE.vct)
            verifier = Verifier(DidResolver([DidKeyMethod()]), trust, HttpStatusSource())

            def check() -> list[ReasonCode]:
                req = PresentationRequest.new(INSURANCE_COVERAGE.vct, ("memberId",), "did:web:v")
                shown = present(s.sd_jwt, req.claims, s.patient, req.audience, req.nonce)
                return verifier.verify_sd_jwt(shown, req).codes

            assert await asyncio.to_thread(check) == [ReasonCode.STATUS_UNAVAILABLE]

    asyncio.run(main())
