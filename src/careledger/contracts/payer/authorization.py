"""The values of the ``prior_auth`` contract: what a request, a decision and a record hold, the
X12 306 action codes, the CMS-0057-F clocks, and how authorization numbers and deadline keys are
written (letters only, since the PHI guard reads a run of digits as a possible identifier).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from careledger.contracts.payer.values import AuthorizationNumber, BillingCode, Day
from careledger.contracts.phi_guard import (
    Count,
    Handle,
    HexDigest,
    Millis,
    OrgId,
    check_schema,
    screen_text,
)
from careledger.errors import ContractError

NAMESPACE = "prior_auth"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
EXPEDITED_MS = 72 * HOUR_MS
STANDARD_MS = 7 * DAY_MS
EXTENSION_MS = 14 * DAY_MS
MAX_ITEMS = 50
MAX_BREACHES_PER_CHECK = 32  # events per transaction are bounded; call again for the rest

Action = Literal["A1", "A2", "A3", "A4", "A6", "C"]
"""X12 306 Action Code: certified, partial, not certified, pended, modified, cancelled."""
APPROVED: frozenset[str] = frozenset({"A1", "A2", "A6"})
NEEDS_REASON: frozenset[str] = frozenset({"A2", "A3", "A6"})
Priority = Literal["standard", "expedited"]
ReasonCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{1,4}$")]
"""X12 HCR03 Health Care Services Review Decision Reason Code (code list 886), e.g. ``0U``."""


class RequestedService(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sequence: Annotated[int, msgspec.Meta(ge=1, le=9999)]
    code: BillingCode
    units: Annotated[int, msgspec.Meta(ge=1, le=9999)]
    start: Day
    end: Day


class PaSubmission(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the payer's node records for a PAS request Bundle it received."""

    request: HexDigest  # SHA-256 of the Bundle identifier (system|value)
    bundle: HexDigest  # SHA-256 of the Bundle bytes
    claim: HexDigest  # SHA-256 of the Claim identifier, what related.claim names later
    requester: OrgId
    member: Handle
    priority: Priority
    items: Annotated[list[RequestedService], msgspec.Meta(min_length=1, max_length=MAX_ITEMS)]


class ServiceDecision(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The approved units and period of one service (A2/A6 may narrow them)."""

    sequence: Annotated[int, msgspec.Meta(ge=1, le=9999)]
    units: Annotated[int, msgspec.Meta(ge=0, le=9999)]
    start: Day
    end: Day


class Decision(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    action: Literal["A1", "A2", "A3", "A4", "A6"]
    reasons: Annotated[list[ReasonCode], msgspec.Meta(max_length=10)] = []
    text: HexDigest | None = None  # SHA-256 of the reviewer's explanation (kept off chain)
    services: Annotated[list[ServiceDecision], msgspec.Meta(max_length=MAX_ITEMS)] = []


class PriorAuthRecord(msgspec.Struct, frozen=True):
    number: AuthorizationNumber
    request: HexDigest
    bundle: HexDigest
    claim: HexDigest
    payer: OrgId
    requester: OrgId
    member: Handle
    priority: Priority
    items: list[RequestedService]
    status: Action
    submitted_at: Millis
    deadline: Millis
    clock_start: (
        Millis  # the request, its latest update or its appeal: what the deadline counts from
    )
    decided_at: Millis | None = None
    reasons: list[ReasonCode] = []
    text: HexDigest | None = None
    approved: list[ServiceDecision] = []
    breached: bool = False
    extended: bool = False
    appealed: bool = False
    updates: Count = 0


class RequestIndex(msgspec.Struct, frozen=True):
    number: AuthorizationNumber
    bundle: HexDigest


class NumberRef(msgspec.Struct, frozen=True):
    number: AuthorizationNumber


for _schema in (PaSubmission, Decision, PriorAuthRecord, RequestIndex, NumberRef):
    check_schema(_schema)


_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def sortable_ms(ms: int) -> str:
    """``ms`` as 12 letters that sort like the number (a run of digits in a key would be refused
    by the PHI guard as a possible identifier)."""
    return f"{ms:012x}".translate(_LETTERS)


def deadline_for(priority: str, start: int) -> int:
    return start + (EXPEDITED_MS if priority == "expedited" else STANDARD_MS)


_NUMBER_LETTERS = str.maketrans("0123456789abcdef", "ABCDEFGHJKLMNPQR")
STATUS_OF_ACTION = {"A1": "approved", "A2": "partial", "A6": "approved", "C": "cancelled"}


def authorization_number(request: str) -> str:
    """The authorization number of a request: ``PA`` and 20 letters derived from its hash.

    Letters only, because a run of digits in a random number reads as an identifier to the PHI
    guard; the next window of the hash is taken in the rare case the letters still look like
    encoded text (deterministic on every endorser)."""
    for start in (0, 20, 40):
        number = "PA" + request[start : start + 20].translate(_NUMBER_LETTERS)
        if screen_text(number) is None:
            return number
    raise ContractError("no acceptable authorization number for this request")
