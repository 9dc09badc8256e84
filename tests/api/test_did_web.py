"""A node serves its organisation's did:web document, and careledger's own did:web resolver
resolves it through the node's HTTP API; the ``did_web_host`` node setting."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from careledger.api.app import NodeApp, create_app
from careledger.api.service import NodeService
from careledger.daemon.config import load_node_config, save_node_config
from careledger.daemon.process import NodeProcess
from careledger.errors import InvalidInput
from careledger.identity.did import DidResolver
from careledger.identity.did.base import ResolutionError
from careledger.identity.did.keys import PublicKey
from careledger.identity.did.web_method import DidWebMethod
from careledger.node.consortium import ConsortiumConfig
from tests.api.nodes import free_port, node_config
from tests.harness import running

HOST = "hospital.example"
DID = "did:web:hospital.example"


@asynccontextmanager
async def node_app(consortium: ConsortiumConfig, did_web_host: str) -> AsyncIterator[NodeApp]:
    async with running(consortium, contracts=()) as net:
        service = NodeService(net.peers["Org1"], net.gateway("Org1", "peer0"))
        try:
            yield create_app(service, did_web_host=did_web_host)
        finally:
            service.close()


class AsgiFetcher:
    """A did:web ``DocumentFetcher`` that GETs the URL from a node app over httpx's ASGI
    transport, on the event loop that runs the node (the resolver itself is synchronous)."""

    def __init__(self, app: NodeApp, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.urls: list[str] = []

    async def _get(self, url: str) -> bytes | None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app)) as client:
            reply = await client.get(url)
        return reply.content if reply.status_code == 200 else None

    def fetch(self, url: str) -> bytes | None:
        self.urls.append(url)
        return asyncio.run_coroutine_threadsafe(self._get(url), self.loop).result(timeout=10)


def test_node_serves_its_did_web_document_and_the_resolver_resolves_it(
    consortium: ConsortiumConfig,
) -> None:
    async def main() -> None:
        async with node_app(consortium, HOST) as app:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="https://hospital.example"
            ) as client:
                reply = await client.get("/.well-known/did.json")  # open: no signed headers
            assert reply.status_code == 200
            assert reply.headers["content-type"].startswith("application/did+json")
            document = reply.json()
            assert document["id"] == DID
            root = PublicKey.ed25519(consortium.root_key("Org1").public.raw)
            [method] = document["verificationMethod"]
            assert method["type"] == "Multikey"
            assert method["controller"] == DID
            assert method["publicKeyMultibase"] == root.multikey
            assert document["assertionMethod"] == [method["id"]]
            assert document["authentication"] == [method["id"]]

            fetcher = AsgiFetcher(app, asyncio.get_running_loop())
            resolver = DidResolver([DidWebMethod(fetcher)])
            result = await asyncio.to_thread(resolver.resolve, DID)
            assert result.ok, result.message
            assert fetcher.urls == ["https://hospital.example/.well-known/did.json"]
            assert result.did_document is not None
            assert result.did_document.data["id"] == DID
            lookup = await asyncio.to_thread(
                resolver.verification_method, method["id"], "assertionMethod"
            )
            assert lookup.method is not None, lookup.error
            assert lookup.method.public_key == root

            other = DidResolver([DidWebMethod(AsgiFetcher(app, asyncio.get_running_loop()))])
            wrong = await asyncio.to_thread(other.resolve, "did:web:clinic.example")
            assert wrong.error == ResolutionError.INVALID_DID  # served id is the hospital's

    asyncio.run(main())


def test_without_did_web_host_the_route_is_a_clear_404(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        async with node_app(consortium, "") as app:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://node"
            ) as client:
                reply = await client.get("/.well-known/did.json")
            assert reply.status_code == 404
            assert reply.json()["type"] == "NotFound"
            assert "did_web_host" in reply.json()["error"]
            fetcher = AsgiFetcher(app, asyncio.get_running_loop())
            result = await asyncio.to_thread(DidResolver([DidWebMethod(fetcher)]).resolve, DID)
            assert result.error == ResolutionError.NOT_FOUND

    asyncio.run(main())


def test_did_web_host_setting(tmp_path: Path, consortium: ConsortiumConfig) -> None:
    config = dataclasses.replace(
        node_config(consortium, "Org1", 7051, {}), did_web_host="hospital.example:8443"
    )
    path = tmp_path / "node.toml"
    save_node_config(config, path)
    assert 'did_web_host = "hospital.example:8443"' in path.read_text()
    assert load_node_config(path).did_web_host == "hospital.example:8443"

    save_node_config(dataclasses.replace(config, did_web_host=""), path)
    assert "did_web_host" not in path.read_text()  # off: not written
    assert load_node_config(path).did_web_host == ""

    for bad in ("Hospital.example", "https://hospital.example", "a..b", "h.example:0", "h:x"):
        with pytest.raises(InvalidInput, match="did_web_host"):
            dataclasses.replace(config, did_web_host=bad).validate()
    path.write_text("did_web_host = 7\n" + path.read_text())  # top-level keys precede tables
    with pytest.raises(InvalidInput, match="did_web_host must be str"):
        load_node_config(path)


def test_node_process_serves_did_json_on_its_socket(consortium: ConsortiumConfig) -> None:
    async def main() -> None:
        config = dataclasses.replace(
            node_config(consortium, "Org1", free_port(), {}), did_web_host=HOST
        )
        node = NodeProcess(config)
        try:
            await node.start()
            async with httpx.AsyncClient() as client:
                reply = await client.get(f"{node.url}/.well-known/did.json")
        finally:
            await node.stop()
        assert reply.status_code == 200
        assert reply.json()["id"] == DID

    asyncio.run(main())
