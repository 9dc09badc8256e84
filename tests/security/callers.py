"""The callers the route walk tries, and what each route's declared rule lets each of them get.

A caller is how a request is made (its credentials); a route's :class:`~careledger.access.Rule`
says which callers are let through (:func:`expected`). "Let through" means the route's own
authentication accepted the caller: the answer is neither 401 nor 403 (it may be 404 or 422, the
route's business), and never a 5xx for anyone.
"""

from __future__ import annotations

import enum
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from careledger.access import Rule
from careledger.api.auth import sign_request
from careledger.api.client import sign_proposal
from careledger.api.codec import b64e
from careledger.crypto.keys import SigningKey
from careledger.identity.msp import LocalIdentity, Role, enrol


class Caller(enum.StrEnum):
    OWN = "own organisation's member"
    ANONYMOUS = "anonymous"
    OTHER_ORG = "member of another organisation"
    REVOKED = "revoked member (own organisation)"
    OWN_SERVER_KEY = "own organisation's orderer member (a server's key, not a user's)"


class Outcome(enum.Enum):
    ALLOWED = "allowed"  # not 401/403, not 5xx
    UNAUTHENTICATED = "401"
    REFUSED = "401 or 403"  # authenticated as nobody who may, or not at all
    FORBIDDEN = "403"
    CONSENT = "allowed, or 403 for a resource the patient has not consented to"
    SIGN_IN = "303 to sign-in, or 403 for a form without a session's CSRF token"


_WRITES = {"POST", "PUT", "DELETE", "PATCH"}


def expected(rule: Rule, caller: Caller, method: str, path: str) -> Outcome:
    """What ``caller`` must get from a ``method path`` route declared ``rule``."""
    if rule is Rule.SESSION:
        return Outcome.SIGN_IN  # none of the callers holds a UI session cookie
    if caller is Caller.OWN or rule is Rule.OPEN:
        return Outcome.ALLOWED
    if caller is Caller.OWN_SERVER_KEY and rule in (Rule.OWN_ORG, Rule.CONSENT):
        return Outcome.FORBIDDEN  # a current member, but not one of the organisation's users
    if caller is Caller.OWN_SERVER_KEY and rule is not Rule.BEARER:
        return Outcome.ALLOWED
    if rule is Rule.BEARER:
        return Outcome.UNAUTHENTICATED  # no token / another holder's token
    if rule is Rule.SIGNED_PROPOSAL:
        return Outcome.ALLOWED if caller is Caller.OTHER_ORG else Outcome.REFUSED
    if caller in (Caller.ANONYMOUS, Caller.REVOKED):
        return Outcome.UNAUTHENTICATED
    if rule is Rule.MEMBER:
        return Outcome.ALLOWED
    if rule is Rule.OWN_ORG:
        return Outcome.FORBIDDEN
    read = method not in _WRITES or path.endswith("/_search")
    return Outcome.CONSENT if read else Outcome.FORBIDDEN


def holds(outcome: Outcome, status: int) -> bool:
    if status >= 500:
        return False
    return {
        Outcome.ALLOWED: status not in (401, 403),
        Outcome.UNAUTHENTICATED: status == 401,
        Outcome.REFUSED: status in (401, 403),
        Outcome.FORBIDDEN: status == 403,
        Outcome.CONSENT: status != 401,
        Outcome.SIGN_IN: status in (303, 403),
    }[outcome]


def outsider() -> LocalIdentity:
    """A well-formed identity from a root key no organisation of the consortium has."""
    return enrol(SigningKey.generate(), "Org1", "intruder", Role.CLIENT, 1, int(time.time() * 1000))


# -- requests ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    api: str  # "node", "fhir", "wallet"
    method: str
    path: str  # as in the OpenAPI document, with the mount prefix
    rule: Rule | None


_PARAM = re.compile(r"\{([^}]+)\}")
SCRATCH_ID = "authz-walk"


def concrete(route: Route, params: Mapping[str, str]) -> str:
    """The route's path with its parameters filled (writes aim at a scratch resource)."""
    values = dict(params)
    if route.method in ("PUT", "DELETE"):
        values["resource_id"] = SCRATCH_ID
    return _PARAM.sub(lambda m: values[m.group(1)], route.path)


def fhir_body(route: Route) -> tuple[bytes, str]:
    """A body the route takes (content, content type); empty for reads."""
    path = route.path
    if route.method == "GET" or route.method == "DELETE":
        return b"", ""
    if path.endswith("/_search"):
        return b"_count=1", "application/x-www-form-urlencoded"
    if path.endswith("$enrol"):
        doc: dict[str, Any] = {"resourceType": "Parameters", "parameter": []}
    elif path == "/fhir/":
        doc = {"resourceType": "Bundle", "type": "batch", "entry": []}
    else:
        doc = {"resourceType": "Patient", "name": [{"family": "Walk", "given": ["Route"]}]}
        if route.method == "PUT":
            doc["id"] = SCRATCH_ID
    return msgspec.json.encode(doc), "application/fhir+json"


def proposal_body(identity: LocalIdentity, path: str) -> bytes:
    """A signed proposal for ``/v1/submit``, ``/v1/evaluate`` or ``/v1/endorse``."""
    if path == "/v1/submit":
        change = {"name": "walk", "version": "1.0", "policy": "MAJORITY"}
        proposal, signature = sign_proposal(identity, "_gov", "propose", ["contract", change])
    else:
        proposal, signature = sign_proposal(identity, "_gov", "contracts", [])
    return msgspec.json.encode({"proposal": b64e(proposal), "signature": b64e(signature)})


def signed_headers(
    identity: LocalIdentity | None, method: str, target: str, body: bytes
) -> dict[str, str]:
    return {} if identity is None else sign_request(identity, method, target, body)


def wallet_headers(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def another_token() -> str:
    return b64e(os.urandom(32))
