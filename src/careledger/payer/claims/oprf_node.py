"""The cross-payer fingerprint service as a node runs it, on whichever side the node is.

The organisation that registered the service on the ledger (``claim_fingerprints
.register_service``) evaluates blinded elements at its node (``POST
/payer/fingerprints/evaluate``) with a key kept in its data directory; every other payer's node
sends its claims desk's blinded elements there, signed as the node's member. The service is
looked up on the ledger at each call, so a node needs no setting and a service registered after
the nodes started is used at once.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from careledger.errors import InvalidInput, NotFound
from careledger.payer.fingerprints import FingerprintService, ledger_meter, new_service_key

EVALUATE_PATH = "/payer/fingerprints/evaluate"


class Ledger(Protocol):
    """What this module needs of a gateway (evaluate and submit)."""

    async def evaluate(self, contract: str, function: str, args: list[Any]) -> Any: ...

    async def submit(self, contract: str, function: str, args: list[Any]) -> Any: ...


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class NodeFingerprints:
    """A node's side of the fingerprint service: the evaluator when its organisation runs the
    service (:meth:`evaluate`), and the desk's way to reach it otherwise (``__call__``)."""

    def __init__(
        self,
        ledger: Ledger,
        org: str,
        key_path: Path,
        peers: Mapping[str, str],
        client: httpx.AsyncClient | None,
    ) -> None:
        self._ledger = ledger
        self.org = org
        self._key_path = key_path
        self._peers = dict(peers)
        self._client = client
        self._local: FingerprintService | None = None
        self._lock = threading.Lock()

    async def service_org(self) -> str | None:
        record = await self._ledger.evaluate("claim_fingerprints", "service", [])
        return None if record is None else str(record["org"])

    def _service(self) -> FingerprintService:
        with self._lock:
            if self._local is None:
                self._local = FingerprintService(self._key(), meter=ledger_meter(self._ledger))
            return self._local

    def _key(self) -> bytes:
        try:
            return unb64(self._key_path.read_text().strip())
        except FileNotFoundError:
            key = new_service_key()
            fd = os.open(self._key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(b64(key) + "\n")
            return key

    async def evaluate(self, org: str, elements: Sequence[bytes]) -> list[bytes]:
        """Evaluate for ``org`` (the route's caller) — only on the service organisation's node."""
        if await self.service_org() != self.org:
            raise NotFound(f"{self.org} does not run the fingerprint service")
        return await self._service().evaluate(org, elements)

    async def __call__(self, elements: list[bytes]) -> list[bytes]:
        """The claims desk's evaluation: at this node when its organisation is the service,
        otherwise at the service organisation's node."""
        service = await self.service_org()
        if service is None:
            raise NotFound("no fingerprint service is registered on the ledger")
        if service == self.org:
            return await self._service().evaluate(self.org, elements)
        url = self._peers.get(service)
        if url is None or self._client is None:
            raise NotFound(f"no address for {service}'s node (the service)")
        reply = await self._client.post(
            url.rstrip("/") + EVALUATE_PATH,
            json={"elements": [b64(e) for e in elements]},
        )
        if reply.status_code != 200:
            raise InvalidInput(f"the fingerprint service answered {reply.status_code}")
        answer = reply.json().get("elements")
        if not isinstance(answer, list) or not all(isinstance(e, str) for e in answer):
            raise InvalidInput("the fingerprint service answered no elements")
        return [unb64(e) for e in answer]
