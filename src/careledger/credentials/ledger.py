"""The credentials package's extension points backed by the consortium ledger.

Readers (synchronous, as the verifier is) — each takes a :class:`LedgerQuery`:

* :class:`LedgerDidMethod` — a did:careledger :class:`~careledger.identity.did.DidMethod` over the
  ``dids`` contract, including resolution as of a past block;
* :class:`LedgerStatusListSource` — a :class:`~careledger.credentials.base.StatusListSource` over
  the ``status_lists`` contract;
* :class:`LedgerTrustRegistry` — a :class:`~careledger.credentials.base.TrustRegistry` over the
  ``trust_registry`` contract.

Writers (async, they submit transactions through a :class:`~careledger.node.gateway.Gateway`):
:class:`LedgerDidRegistry` (the holder signs each DID operation; any member's gateway submits
it), :class:`StatusListPublisher` and :class:`TrustRegistryAdmin` (organisation admins).

:func:`gateway_query` turns a gateway into a :class:`LedgerQuery` by running its ``evaluate``. It
works for a gateway whose evaluate completes without waiting (the embedded network's, which
queries its own peer); for a remote node, give the readers a :class:`LedgerQuery` that makes a
blocking call (and call the verifier from a worker thread).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from careledger.contracts import dids, trust_registry
from careledger.contracts.dids import ServiceEndpoint, did_for_key, operation_payload
from careledger.credentials.base import StatusListSource, TrustRegistry
from careledger.credentials.verifier import Verifier
from careledger.errors import CareLedgerError, InvalidInput
from careledger.identity.did.base import (
    DidDocument,
    DidMethod,
    DocumentMetadata,
    ResolutionError,
    ResolutionOptions,
    ResolutionResult,
)
from careledger.identity.did.errors import DidOperationError
from careledger.identity.did.key_method import DidKeyMethod
from careledger.identity.did.keys import Ed25519Signer, PublicKey
from careledger.identity.did.resolver import DidResolver

if TYPE_CHECKING:
    from careledger.node.gateway import Gateway

__all__ = [
    "LedgerDidMethod",
    "LedgerDidRegistry",
    "LedgerQuery",
    "LedgerStatusListSource",
    "LedgerTrustRegistry",
    "StatusListPublisher",
    "TrustRegistryAdmin",
    "gateway_query",
    "ledger_resolver",
    "ledger_verifier",
]


class LedgerQuery(Protocol):
    """Evaluates a contract query on a peer and returns its result (blocking).

    Raises a :class:`~careledger.errors.CareLedgerError` when the query fails (unknown contract,
    bad arguments) and ``OSError`` when the node cannot be reached.
    """

    def __call__(self, contract: str, function: str, args: list[Any]) -> Any: ...


class GatewaySuspended(CareLedgerError):
    """The gateway's evaluate waited for I/O, so it cannot serve a synchronous reader."""


def gateway_query(gateway: Gateway) -> LedgerQuery:
    """A :class:`LedgerQuery` that runs ``gateway.evaluate`` to completion in the caller."""

    def run(contract: str, function: str, args: list[Any]) -> Any:
        step = gateway.evaluate(contract, function, list(args))
        try:
            step.send(None)
        except StopIteration as done:
            return done.value
        step.close()
        raise GatewaySuspended(
            "this gateway's evaluate waits for I/O; pass a blocking LedgerQuery instead"
        )

    return run


# -- DIDs -----------------------------------------------------------------------------------
def _result(answer: Any) -> ResolutionResult:
    meta = answer["metadata"]
    return ResolutionResult(
        did_document=DidDocument(answer["document"]),
        document_metadata=DocumentMetadata(
            created=meta.get("created"),
            updated=meta.get("updated"),
            version_id=meta.get("versionId"),
            deactivated=bool(meta.get("deactivated", False)),
        ),
    )


class LedgerDidMethod:
    """The did:careledger driver: documents from the ``dids`` contract."""

    method = "careledger"

    def __init__(self, query: LedgerQuery) -> None:
        self._query = query

    def resolve(self, did: str, options: ResolutionOptions) -> ResolutionResult:
        """The current document, or the one at ``options.version_id``."""
        return self._resolve(did, options.version_id, None)

    def resolve_at_block(self, did: str, block: int) -> ResolutionResult:
        """The document as it stood once block ``block`` was committed."""
        return self._resolve(did, None, block)

    def _resolve(self, did: str, version_id: str | None, block: int | None) -> ResolutionResult:
        try:
            answer = self._query(dids.NAMESPACE, "resolve", [did, version_id, block])
        except InvalidInput as exc:
            return ResolutionResult.failure(ResolutionError.INVALID_DID, str(exc))
        except (CareLedgerError, OSError) as exc:
            return ResolutionResult.failure(ResolutionError.INTERNAL_ERROR, f"ledger: {exc}")
        if answer is None:
            wanted = (
                f" version {version_id}" if version_id else f" at block {block}" if block else ""
            )
            return ResolutionResult.failure(
                ResolutionError.NOT_FOUND, f"{did}{wanted} is not on the ledger"
            )
        return _result(answer)


def _service(service: Mapping[str, Any]) -> dict[str, Any]:
    try:
        typed = msgspec.convert(dict(service), ServiceEndpoint)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"service: {exc}") from exc
    plain: dict[str, Any] = msgspec.to_builtins(typed)
    return plain


class LedgerDidRegistry:
    """did:careledger operations submitted through a member's gateway, signed by the holder.

    Same operations as :class:`~careledger.identity.did.InMemoryDidRegistry`; each returns after
    the transaction commits. A refused operation raises the gateway's error (a
    :class:`~careledger.errors.ContractError` naming the reason, e.g. a wrong key).
    """

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._reader = LedgerDidMethod(gateway_query(gateway))

    async def create(
        self, signer: Ed25519Signer, services: Sequence[Mapping[str, Any]] = ()
    ) -> str:
        """Anchor the DID of ``signer``'s key; returns the DID."""
        key = signer.public_key.multikey
        did = did_for_key(key)
        plain = [_service(s) for s in services]
        payload = operation_payload(did, "create", {"key": key, "services": plain}, 0)
        await self._gateway.submit(
            dids.NAMESPACE, "create", [key, plain, signer.sign(payload)], retries=0
        )
        return did

    async def rotate_keys(self, did: str, new_keys: list[PublicKey], signer: Ed25519Signer) -> str:
        """Replace the DID's keys; ``signer`` holds a current key. Returns the new version id."""
        keys = [k.multikey for k in new_keys]
        return await self._operate(did, "rotate", keys, [did, keys], signer)

    async def add_service(self, did: str, service: Mapping[str, Any], signer: Ed25519Signer) -> str:
        """Add a service endpoint; returns the new version id."""
        plain = _service(service)
        return await self._operate(did, "add_service", plain, [did, plain], signer)

    async def deactivate(self, did: str, signer: Ed25519Signer) -> str:
        """Deactivate the DID for good; returns the final version id."""
        return await self._operate(did, "deactivate", None, [did], signer)

    async def _operate(
        self, did: str, op: str, arg: Any, args: list[Any], signer: Ed25519Signer
    ) -> str:
        current = self._reader.resolve(did, ResolutionOptions(no_cache=True))
        if current.error is not None or current.document_metadata.version_id is None:
            raise DidOperationError(f"{did} cannot be resolved: {current.message}")
        version = int(current.document_metadata.version_id)
        signature = signer.sign(operation_payload(did, op, arg, version))
        # No automatic retry: a signature is bound to one version, a retry would need a new one.
        done = await self._gateway.submit(dids.NAMESPACE, op, [*args, signature], retries=0)
        return str(done.result["version"])


# -- status lists ---------------------------------------------------------------------------
class LedgerStatusListSource:
    """Status list credentials as published in the ``status_lists`` contract."""

    def __init__(self, query: LedgerQuery) -> None:
        self._query = query

    def get(self, url: str) -> bytes | None:
        """The published credential bytes; ``OSError`` when the ledger cannot answer."""
        try:
            found = self._query("status_lists", "get", [url])
        except CareLedgerError as exc:
            raise OSError(f"ledger: {exc}") from exc
        return found if isinstance(found, bytes) else None


class StatusListPublisher:
    """Publishes signed status lists (W3C credentials, IETF tokens) through an organisation
    admin's gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def publish(self, credential: Mapping[str, Any]) -> dict[str, Any]:
        """Publish (or update) ``credential``; returns ``{url, sequence, digest}``."""
        data = json.dumps(credential, separators=(",", ":")).encode("utf-8")
        done = await self._gateway.submit("status_lists", "publish", [data])
        result: dict[str, Any] = done.result
        return result

    async def publish_token(self, token: str) -> dict[str, Any]:
        """Publish (or update) an IETF status list token (compact JWS); returns
        ``{org, name, sequence, digest}``. Nodes then serve it at its URI's path."""
        done = await self._gateway.submit("status_lists", "publish_token", [token.encode("ascii")])
        result: dict[str, Any] = done.result
        return result


# -- trust registry -------------------------------------------------------------------------
class LedgerTrustRegistry:
    """Accreditations from the ``trust_registry`` contract; fails closed if the ledger errs."""

    def __init__(self, query: LedgerQuery) -> None:
        self._query = query

    def is_trusted(self, issuer: str, credential_type: str) -> bool:
        """True when the ledger's trust registry accredits ``issuer`` for ``credential_type``."""
        try:
            return (
                self._query(trust_registry.NAMESPACE, "is_trusted", [issuer, credential_type])
                is True
            )
        except (CareLedgerError, OSError):
            return False


class TrustRegistryAdmin:
    """An organisation admin's trust registry operations (see the contract for the rules)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def bind_issuer(self, did: str, controller: Ed25519Signer) -> dict[str, Any]:
        """Bind ``did`` to this gateway's organisation, signed by the DID's ``controller``."""
        current = await self._gateway.evaluate(trust_registry.NAMESPACE, "issuer", [did])
        generation = 1 if current is None else int(current["generation"]) + 1
        org = self._gateway.identity.org
        signature = controller.sign(trust_registry.binding_payload(did, org, generation))
        done = await self._gateway.submit(
            trust_registry.NAMESPACE, "bind_issuer", [did, signature], retries=0
        )
        result: dict[str, Any] = done.result
        return result

    async def accredit(self, did: str, *credential_types: str) -> None:
        """Trust this organisation's issuer ``did`` for each of ``credential_types``."""
        for kind in credential_types:
            await self._gateway.submit(trust_registry.NAMESPACE, "accredit", [did, kind])

    async def withdraw(self, did: str, credential_type: str) -> None:
        """Stop trusting this organisation's issuer ``did`` for ``credential_type``."""
        await self._gateway.submit(trust_registry.NAMESPACE, "withdraw", [did, credential_type])

    async def propose(
        self, action: str, issuer: str, credential_type: str = "", org: str = ""
    ) -> dict[str, Any]:
        """Open a motion (changes touching another organisation's issuer)."""
        done = await self._gateway.submit(
            trust_registry.NAMESPACE, "propose", [action, issuer, credential_type, org]
        )
        result: dict[str, Any] = done.result
        return result

    async def approve(self, motion_id: str) -> dict[str, Any]:
        """Approve a motion; the result's ``status`` is ``applied`` once it took effect."""
        done = await self._gateway.submit(trust_registry.NAMESPACE, "approve", [motion_id])
        result: dict[str, Any] = done.result
        return result


# -- assembling a verifier ------------------------------------------------------------------
def ledger_resolver(query: LedgerQuery, cache_ttl: float = 60.0) -> DidResolver:
    """A resolver for did:key and did:careledger (the latter from the ledger)."""
    methods: list[DidMethod] = [DidKeyMethod(), LedgerDidMethod(query)]
    return DidResolver(methods, cache_ttl=cache_ttl)


def ledger_verifier(query: LedgerQuery, resolver: DidResolver | None = None) -> Verifier:
    """A :class:`Verifier` whose DIDs, trust registry and status lists all come from the ledger."""
    trust: TrustRegistry = LedgerTrustRegistry(query)
    status: StatusListSource = LedgerStatusListSource(query)
    return Verifier(resolver or ledger_resolver(query), trust, status)
