"""What the payer's node does for a prior authorization request: the layer between the PAS
routes and the ``prior_auth`` contract.

The requester (a provider organisation, authenticated by its signed request) posts a PAS request
Bundle to the payer's node, as Da Vinci PAS has providers post to the payer's endpoint. The node
validates it (:mod:`careledger.payer.pas.bundles`), keeps the Bundle and its Patient entry off chain
(:mod:`careledger.payer.pas.store`), turns the member id into its keyed handle and records
hashes, codes and units on the ledger through its gateway (so the transaction's creator is the
payer; the requester is an argument the payer's node vouches for). A reviewer of the payer
organisation decides; the requester is notified: ``prior_auth.*`` events on the ledger's event
stream, and the full response Bundle POSTed to each rest-hook endpoint it subscribed
(:meth:`PriorAuthService.subscribe`).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

import httpx
import msgspec

from careledger.contracts.payer.authorization import Decision, PaSubmission, RequestedService
from careledger.contracts.payer.model import day_number
from careledger.errors import AccessDenied, InvalidInput, NotFound
from careledger.fhir.errors import Issue
from careledger.node.gateway import Gateway
from careledger.payer.pas.bundles import (
    PasBundleInvalid,
    PasRequest,
    member_handle,
    parse_request,
    response_bundle,
)
from careledger.payer.pas.metrics import PriorAuthReport, prior_auth_events, prior_auth_report
from careledger.payer.pas.store import PasStore, text_hash

log = logging.getLogger("careledger.payer")

JSON = dict[str, Any]
NAMESPACE = "prior_auth"
MAX_TEXT = 4000
MAX_SUBSCRIPTIONS = 8


class ServiceChange(msgspec.Struct, forbid_unknown_fields=True):
    sequence: int
    units: int
    start: str
    end: str


class ReviewerDecision(msgspec.Struct, forbid_unknown_fields=True):
    """The body of the reviewer's decision route."""

    action: str
    reasons: list[str] = []
    text: str | None = None
    services: list[ServiceChange] = []


class PriorAuthService:
    def __init__(
        self,
        gateway: Gateway,
        store: PasStore,
        member_secret: bytes,
        *,
        client: httpx.AsyncClient | None = None,
        base_url: str = "",
    ) -> None:
        if len(member_secret) < 16:
            raise InvalidInput("the member-handle secret needs at least 16 bytes")
        self.gateway = gateway
        self.store = store
        self.secret = member_secret
        self.client = client
        self.base_url = base_url

    @property
    def org(self) -> str:
        return self.gateway.identity.org

    # -- requester ---------------------------------------------------------------------------
    async def submit(self, raw: bytes, requester: str) -> JSON:
        """A PAS request, update (related.claim) or cancellation (status cancelled); returns
        the PAS response Bundle."""
        request = parse_request(_decode(raw), raw)
        if request.payer != self.org:
            raise PasBundleInvalid(
                [
                    Issue(
                        "value",
                        f"this endpoint is {self.org}'s; the Claim names {request.payer[:64]}",
                        "Bundle.entry[0].resource.insurer.identifier",
                    )
                ]
            )
        handle = member_handle(self.secret, request.member_system, request.member_id)
        if request.related is not None:
            record = await self.gateway.evaluate(NAMESPACE, "by_claim", [request.related])
            if record is None:
                raise NotFound("related.claim names no prior authorization request here")
            if record["requester"] != requester:
                raise AccessDenied("only the requester may update or cancel its request")
            if request.cancel:
                result = await self.gateway.submit(NAMESPACE, "cancel", [request.related])
            else:
                args = [request.related, submission_args(request, handle, requester)]
                result = await self.gateway.submit(NAMESPACE, "update", args)
        else:
            submission = submission_args(request, handle, requester)
            result = await self.gateway.submit(NAMESPACE, "submit", [submission])
        record = result.result
        self.store.put_bundle(request.bundle, raw)
        if request.patient_entry is not None:
            self.store.put_patient(str(record["number"]), request.patient_entry)
        bundle = self.response(record)
        if request.cancel:
            await self._notify(record, bundle)
        return bundle

    async def inquire(self, raw: bytes, requester: str) -> JSON:
        """The response Bundles of the requester's requests for the member the inquiry names."""
        request = parse_request(_decode(raw), raw)
        handle = member_handle(self.secret, request.member_system, request.member_id)
        records = await self.gateway.evaluate(NAMESPACE, "inquire", [handle])
        mine = [r for r in records if r["requester"] == requester]
        if request.related is not None:
            mine = [r for r in mine if r["claim"] == request.related]
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": f"urn:careledger:pa:{r['number']}", "resource": self.response(r)}
                for r in mine
            ],
        }

    def subscribe(self, requester: str, endpoint: str) -> list[str]:
        """A rest-hook ``endpoint`` that receives the response Bundle of every decision on the
        requester's requests (kept in the payer's PAS store, so they survive a restart).

        HTTPS only, and not to an address of this machine or its private networks given as an
        IP literal: the payer's node POSTs there, so a requester must not aim it at the payer's
        internal services (names are not resolved here; a deployment that needs more limits
        outbound traffic at its proxy)."""
        try:
            url = httpx.URL(endpoint)
        except httpx.InvalidURL:
            raise InvalidInput("a rest-hook endpoint is an https URL") from None
        if url.scheme != "https" or not url.host or len(endpoint) > 500:
            raise InvalidInput("a rest-hook endpoint is an https URL")
        if _internal(url.host):
            raise InvalidInput("a rest-hook endpoint cannot be a local or private address")
        hooks = self.store.subscriptions(requester)
        if endpoint not in hooks:
            if len(hooks) >= MAX_SUBSCRIPTIONS:
                raise InvalidInput(f"at most {MAX_SUBSCRIPTIONS} endpoints per organisation")
            hooks.append(endpoint)
            self.store.put_subscriptions(requester, hooks)
        return hooks

    # -- payer -------------------------------------------------------------------------------
    async def decide(self, number: str, raw: bytes) -> JSON:
        """A reviewer's decision on a pended request; notifies the requester."""
        try:
            body = msgspec.json.decode(raw, type=ReviewerDecision)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise InvalidInput(
                f"a decision is {{action, reasons, text, services}}: {exc}"
            ) from None
        text_digest = None
        if body.text is not None:
            if not body.text.strip() or len(body.text) > MAX_TEXT:
                raise InvalidInput(f"the explanation is 1-{MAX_TEXT} characters of text")
            text_digest = text_hash(body.text)
        try:
            services = [
                {
                    "sequence": s.sequence,
                    "units": s.units,
                    "start": day_number(s.start),
                    "end": day_number(s.end),
                }
                for s in body.services
            ]
        except ValueError:
            raise InvalidInput("service start and end are dates (YYYY-MM-DD)") from None
        decision = {
            "action": body.action,
            "reasons": body.reasons,
            "text": text_digest,
            "services": services,
        }
        try:
            msgspec.convert(decision, Decision)
        except msgspec.ValidationError as exc:
            raise InvalidInput(f"decision: {exc}") from None
        result = await self.gateway.submit(NAMESPACE, "decide", [number, decision])
        if body.text is not None:  # kept once the decision holds: nothing half-written
            self.store.put_text(body.text)
        record = result.result
        bundle = self.response(record)
        await self._notify(record, bundle)
        return bundle

    async def extend(self, number: str, reason: str) -> JSON:
        result = await self.gateway.submit(NAMESPACE, "extend", [number, reason])
        return self.response(result.result)

    async def appeal(self, number: str, requester: str) -> JSON:
        record = await self.get(number)
        if record["requester"] != requester:
            raise AccessDenied("only the requester may appeal its request")
        result = await self.gateway.submit(NAMESPACE, "appeal", [number])
        return self.response(result.result)

    async def check_deadlines(self, now: int) -> JSON:
        result = await self.gateway.submit(NAMESPACE, "check_deadlines", [now])
        return dict(result.result)

    async def get(self, number: str) -> JSON:
        record = await self.gateway.evaluate(NAMESPACE, "get", [number])
        if record is None:
            raise NotFound(f"no prior authorization {number[:40]}")
        return dict(record)

    async def pending(self) -> list[JSON]:
        return list(await self.gateway.evaluate(NAMESPACE, "pending", []))

    async def requests(self, party: str, status: str = "") -> list[JSON]:
        """Requests where ``party`` is the payer or the requester (``status``: one action code)."""
        return list(await self.gateway.evaluate(NAMESPACE, "requests", [party, status]))

    def metrics(self, year: int, payer: str | None) -> PriorAuthReport:
        """The public-report figures from this node's copy of the chain."""
        return prior_auth_report(prior_auth_events(self.gateway.peer.blocks), year, payer)

    def response(self, record: Mapping[str, Any]) -> JSON:
        number = str(record["number"])
        text = self.store.text(str(record["text"])) if record.get("text") else None
        return response_bundle(
            dict(record),
            patient_entry=self.store.patient(number),
            explanation=text,
            base_url=self.base_url,
        )

    async def _notify(self, record: Mapping[str, Any], bundle: JSON) -> None:
        if self.client is None:
            return
        for endpoint in self.store.subscriptions(str(record["requester"])):
            try:
                reply = await self.client.post(
                    endpoint,
                    content=msgspec.json.encode(bundle),
                    headers={"Content-Type": "application/fhir+json"},
                )
                reply.raise_for_status()
            except httpx.HTTPError as exc:  # the event stream still carries the decision
                log.warning("rest-hook %s not notified of %s: %r", endpoint, record["number"], exc)


def _internal(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global


def _decode(raw: bytes) -> Any:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from None


def submission_args(request: PasRequest, handle: str, requester: str) -> JSON:
    """The ``prior_auth`` contract's PaSubmission argument for a parsed request."""
    items = [RequestedService(i.sequence, i.code, i.units, i.start, i.end) for i in request.items]
    submission = PaSubmission(
        request=request.request,
        bundle=request.bundle,
        claim=request.claim,
        requester=requester,
        member=handle,
        priority=request.priority,  # type: ignore[arg-type]
        items=items,
    )
    return msgspec.to_builtins(submission)  # type: ignore[no-any-return]
