"""The client side of the node API: :class:`NodeClient` (the SDK) and :class:`RemoteEndorser`.

``NodeClient`` signs proposals with a member identity and calls a node: submit (with retry on
MVCC conflict and endorsement skew, re-signing with a fresh nonce), evaluate, state, blocks,
transactions and the commit event stream. ``RemoteEndorser`` is the gateway's
:class:`~careledger.node.gateway.Endorser` for another organisation's node. Error responses are
raised again as the CareLedger error they were (:func:`raise_for_error`), so code written against
the embedded gateway handles a remote node the same way.

Asynchronous only; scripts wrap calls in ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, TypeVar

import httpx
import pydantic

from careledger.api.auth import sign_request
from careledger.api.codec import b64d, b64e
from careledger.api.errors import NotAuthenticated, NotFound, PayloadTooLarge
from careledger.api.models import (
    BlockOut,
    CommitEventOut,
    EndorseOut,
    EvaluateOut,
    HealthOut,
    StateOut,
    SubmitBatchOut,
    SubmitItemOut,
    SubmitOut,
    TxOut,
)
from careledger.crypto.keys import verify
from careledger.errors import (
    CareLedgerError,
    ContractError,
    CryptoError,
    EncodingError,
    EndorsementError,
    EndorserUnavailable,
    InvalidInput,
    MembershipError,
    OrderingError,
    PolicyError,
    StorageError,
    TransactionInvalid,
    UnknownContract,
)
from careledger.identity.msp import LocalIdentity, parse_cert
from careledger.ledger.codes import ValidationCode
from careledger.ledger.transaction import MAX_ENVELOPE_BYTES, Endorsement, Proposal

M = TypeVar("M", bound=pydantic.BaseModel)

_KNOWN: dict[str, type[CareLedgerError]] = {
    cls.__name__: cls
    for cls in (
        InvalidInput,
        EncodingError,
        PayloadTooLarge,
        CryptoError,
        MembershipError,
        PolicyError,
        ContractError,
        UnknownContract,
        EndorsementError,
        EndorserUnavailable,
        OrderingError,
        StorageError,
        NotFound,
        NotAuthenticated,
    )
}


class RemoteError(CareLedgerError):
    """A node answered with an error this client does not know by type."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def raise_for_error(response: httpx.Response, origin: str = "") -> None:
    """Raise the CareLedger error a node's error response stands for; nothing on success."""
    if response.is_success:
        return
    prefix = f"{origin}: " if origin else ""
    try:
        body = response.json()
        kind, message = str(body["type"]), str(body["error"])
    except (ValueError, KeyError, TypeError):
        raise RemoteError(response.status_code, prefix + response.text[:200]) from None
    if kind == "TransactionInvalid" and isinstance(body.get("tx_id"), str):
        raise TransactionInvalid(body["tx_id"], str(body.get("code")))
    cls = _KNOWN.get(kind)
    if cls is None:
        raise RemoteError(response.status_code, prefix + message)
    raise cls(prefix + message)


def _outcome(item: SubmitItemOut) -> SubmitOut | CareLedgerError:
    """A submit-batch entry's outcome as :meth:`NodeClient.submit` would return or raise it."""
    if item.type is None:
        return SubmitOut(
            tx_id=item.tx_id, code=item.code or "", block=item.block, result=item.result
        )
    if item.type == "TransactionInvalid" and item.code is not None:
        return TransactionInvalid(item.tx_id, item.code)
    cls = _KNOWN.get(item.type)
    message = item.error or item.type
    return cls(message) if cls is not None else RemoteError(200, f"{item.type}: {message}")


def _model(kind: type[M], response: httpx.Response) -> M:
    try:
        return kind.model_validate(response.json())
    except (ValueError, pydantic.ValidationError) as exc:
        raise RemoteError(response.status_code, f"unexpected {kind.__name__} body") from exc


def sign_proposal(
    identity: LocalIdentity, contract: str, function: str, args: list[Any]
) -> tuple[bytes, bytes]:
    """Canonical proposal bytes (fresh nonce, current time) and the creator's signature."""
    body = Proposal(
        contract=contract,
        function=function,
        args=list(args),
        creator=identity.identity,
        nonce=os.urandom(16),
        timestamp=int(time.time() * 1000),
    ).to_bytes()
    return body, identity.sign(body)


def _signed_body(proposal: bytes, signature: bytes) -> dict[str, str]:
    return {"proposal": b64e(proposal), "signature": b64e(signature)}


class NodeClient:
    """A member's connection to one node. Use ``async with NodeClient(url, identity) as c:``."""

    def __init__(
        self,
        base_url: str,
        identity: LocalIdentity,
        *,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """``verify``: how an https node's certificate is checked (an SSLContext from
        :func:`careledger.tls.client_context` for a consortium CA and mutual TLS)."""
        self.identity = identity
        self.base_url = base_url
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, transport=transport, verify=verify
        )

    async def __aenter__(self) -> NodeClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- transactions -------------------------------------------------------------------------
    async def submit(
        self, contract: str, function: str, args: list[Any], *, retries: int = 3
    ) -> SubmitOut:
        """Submit and wait for the commit; retries on MVCC conflicts and endorsement skew."""
        for attempt in range(retries + 1):
            proposal, signature = sign_proposal(self.identity, contract, function, args)
            try:
                return await self.submit_signed(proposal, signature)
            except TransactionInvalid as exc:
                if exc.code != ValidationCode.MVCC_READ_CONFLICT.name or attempt == retries:
                    raise
            except EndorsementError:
                if attempt == retries:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    async def submit_signed(self, proposal: bytes, signature: bytes) -> SubmitOut:
        response = await self._http.post("/v1/submit", json=_signed_body(proposal, signature))
        raise_for_error(response)
        return _model(SubmitOut, response)

    async def submit_batch(
        self, items: list[tuple[bytes, bytes]]
    ) -> list[SubmitOut | CareLedgerError]:
        """Submit signed proposals in one request (``POST /v1/submit-batch``, at most 256);
        one outcome per entry, in order: the committed transaction, or the error a single
        submit would have raised (not raised here). No retry: each proposal is signed."""
        body = {"items": [_signed_body(p, s) for p, s in items]}
        request = self._signed_request("POST", "/v1/submit-batch", {}, json.dumps(body).encode())
        response = await self._http.send(request)
        raise_for_error(response)
        out = _model(SubmitBatchOut, response).items
        if len(out) != len(items):
            raise RemoteError(response.status_code, f"{len(out)} outcomes for {len(items)} entries")
        return [_outcome(item) for item in out]

    async def evaluate(self, contract: str, function: str, args: list[Any]) -> Any:
        proposal, signature = sign_proposal(self.identity, contract, function, args)
        response = await self._http.post("/v1/evaluate", json=_signed_body(proposal, signature))
        raise_for_error(response)
        return _model(EvaluateOut, response).result

    async def endorse(self, proposal: bytes, signature: bytes) -> EndorseOut:
        response = await self._http.post("/v1/endorse", json=_signed_body(proposal, signature))
        raise_for_error(response)
        return _model(EndorseOut, response)

    # -- reads --------------------------------------------------------------------------------
    async def health(self) -> HealthOut:
        response = await self._http.get("/v1/health")
        raise_for_error(response)
        return _model(HealthOut, response)

    def _signed_request(
        self, method: str, path: str, params: dict[str, Any], content: bytes = b""
    ) -> httpx.Request:
        request = self._http.build_request(method, path, params=params, content=content or None)
        target = request.url.raw_path.decode("ascii")
        request.headers.update(sign_request(self.identity, method, target, request.content))
        if content:
            request.headers["content-type"] = "application/json"
        return request

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """A signed JSON request to any route of the node (the capability routes: incentives,
        payer); returns the JSON answer, raises the node's error as :func:`raise_for_error`."""
        content = b"" if body is None else json.dumps(body).encode()
        response = await self._http.send(self._signed_request(method, path, {}, content))
        raise_for_error(response)
        return response.json()

    async def _get(self, kind: type[M], path: str, **params: Any) -> M:
        response = await self._http.send(self._signed_request("GET", path, params))
        raise_for_error(response)
        return _model(kind, response)

    async def state(self) -> StateOut:
        return await self._get(StateOut, "/v1/state")

    async def block(self, number: int) -> BlockOut:
        return await self._get(BlockOut, f"/v1/blocks/{int(number)}")

    async def transaction(self, tx_id: str) -> TxOut:
        return await self._get(TxOut, f"/v1/transactions/{tx_id}")

    async def events(self, start: int = 0) -> AsyncIterator[CommitEventOut]:
        """Commit events from block ``start`` on, as the node commits them; runs until closed."""
        request = self._signed_request("GET", "/v1/events", {"start": start})
        request.extensions["timeout"] = httpx.Timeout(10.0, read=None).as_dict()
        response = await self._http.send(request, stream=True)
        try:
            if not response.is_success:
                await response.aread()
                raise_for_error(response)
            data: list[str] = []
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
                elif not line and data:
                    yield CommitEventOut.model_validate(json.loads("\n".join(data)))
                    data = []
        finally:
            await response.aclose()


class RemoteEndorser:
    """Another organisation's node as an endorser for this node's gateway."""

    def __init__(
        self,
        org: str,
        base_url: str,
        *,
        timeout: float = 30.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.org = org
        self.base_url = base_url
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, verify=verify)

    async def endorse(self, proposal: bytes, signature: bytes) -> tuple[bytes, Endorsement]:
        try:
            reply = await self._http.post("/v1/endorse", json=_signed_body(proposal, signature))
        except httpx.HTTPError as exc:
            raise EndorserUnavailable(
                f"cannot reach {self.org}'s node at {self.base_url}: {exc!r}"
            ) from exc
        if reply.status_code >= 500:
            raise EndorserUnavailable(f"{self.org}'s node failed to endorse: {reply.text[:200]}")
        raise_for_error(reply, self.org)
        try:
            body = EndorseOut.model_validate(reply.json())
            response = b64d(body.response, "response", MAX_ENVELOPE_BYTES)
            endorser = b64d(body.endorsement.endorser, "endorser", 4096)
            endorser_sig = b64d(body.endorsement.signature, "signature", 64)
            cert, _, _ = parse_cert(endorser)
        except (ValueError, pydantic.ValidationError, CareLedgerError) as exc:
            raise EndorsementError(f"{self.org}'s node sent a malformed endorsement") from exc
        # The block validator re-checks all of this; checking here names the culprit early.
        if cert.org != self.org or not verify(cert.public_key, response, endorser_sig):
            raise EndorsementError(
                f"{self.org}'s node sent an endorsement not signed by {self.org}"
            )
        return response, Endorsement(endorser, endorser_sig)

    async def aclose(self) -> None:
        await self._http.aclose()
