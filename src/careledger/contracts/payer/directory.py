"""The ``directory`` contract: the consortium's shared provider directory (Plan-Net shapes) and
its corrections.

**What it holds, and why that is not PHI.** Practitioners, their roles, organisations,
locations, services, insurance plans, networks and endpoints — what payers must publish anyway
(CMS Provider Directory API, Plan-Net). Practitioner data is kept to what a directory shows: a
display name, specialties (NUCC taxonomy codes), where and with whom they practise, a work
phone; no birth date, no home address, no licence number. The generic PHI screen would refuse a
practitioner's name (whitespace), a ZIP code or a taxonomy code (digit runs), so this namespace
is exempt from it, like ``_gov`` (organisations' names); the strict layer still applies: every
field has a pattern or a closed vocabulary, so there is no free-text field to put anything else
in, and every write is checked against it here.

**Ownership.** An entry is written by its owning organisation (the first publisher) and only by
it. A PractitionerRole carries a reference to the practitioner's licence credential
(:class:`LicenceRef`: its hash, issuer, status list entry, end of validity) that the publishing
node verified in full; whether the role is *verified* is computed at read time from the status
list on the ledger (:mod:`careledger.payer.directory.licence`), so revoking the licence
unverifies the role with no directory write.

**Corrections.** Any member reports a discrepancy on an entry (the field and a hash of the
evidence, which the reporter keeps); the owner confirms (``corrected``) or denies it with a
reason code within :data:`CORRECTION_BUSINESS_DAYS` business days (No Surprises Act §116: two
business days to update a directory). Resolutions after the deadline are marked late.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query
from careledger.contracts.phi_guard import (
    DID_PATTERN,
    Count,
    HexDigest,
    Millis,
    OrgId,
    check_schema,
    require,
)
from careledger.errors import ContractError, InvalidInput

NAMESPACE = "directory"
CORRECTION_BUSINESS_DAYS = 2
MAX_LINKS = 20

Kind = Literal[
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Location",
    "HealthcareService",
    "InsurancePlan",
    "Network",
    "Endpoint",
]
EntryId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$")]
DisplayName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9 .,'&()/-]{0,99}$")]
Taxonomy = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{3}[0-9A-Z]{6}X$")]
"""A NUCC Health Care Provider Taxonomy code (``207Q00000X``, family medicine)."""
Phone = Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9][0-9 ()-]{6,19}$")]
State = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
PostalCode = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{5}(-[0-9]{4})?$")]
Url = Annotated[
    str, msgspec.Meta(pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/%-]*)?$")
]
IssuerDid = Annotated[str, msgspec.Meta(pattern=DID_PATTERN)]
PlanType = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z-]{1,19}$")]
Field = Literal[
    "name",
    "active",
    "specialties",
    "networks",
    "organization",
    "locations",
    "services",
    "endpoints",
    "phone",
    "address",
    "url",
    "licence",
]
DenialReason = Literal["accurate", "insufficient-evidence", "not-directory-data"]


class Address(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    line: DisplayName
    city: DisplayName
    state: State
    postal_code: PostalCode


class LicenceRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The practitioner's licence credential, as verified when the role was published."""

    credential: HexDigest  # SHA-256 of the credential's JSON (sorted keys, compact)
    issuer: IssuerDid
    status_list: Url
    status_index: Annotated[int, msgspec.Meta(ge=0, le=1_048_575)]
    purpose: Literal["revocation", "suspension"]
    valid_until: Millis


class EntryInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One directory resource; which links apply depends on ``kind`` (see :data:`_LINKS`)."""

    kind: Kind
    id: EntryId
    name: DisplayName | None = None
    active: bool = True
    specialties: Annotated[list[Taxonomy], msgspec.Meta(max_length=MAX_LINKS)] = []
    networks: Annotated[list[EntryId], msgspec.Meta(max_length=MAX_LINKS)] = []
    organization: EntryId | None = None
    practitioner: EntryId | None = None
    locations: Annotated[list[EntryId], msgspec.Meta(max_length=MAX_LINKS)] = []
    services: Annotated[list[EntryId], msgspec.Meta(max_length=MAX_LINKS)] = []
    endpoints: Annotated[list[EntryId], msgspec.Meta(max_length=MAX_LINKS)] = []
    phone: Phone | None = None
    address: Address | None = None
    url: Url | None = None
    plan_type: PlanType | None = None
    licence: LicenceRef | None = None


class DirectoryEntry(msgspec.Struct, frozen=True):
    entry: EntryInput
    owner: OrgId
    updated_at: Millis
    version: Count


class CorrectionReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: Kind
    id: EntryId
    field: Field
    evidence: HexDigest  # SHA-256 of the evidence document the reporter keeps


class Correction(msgspec.Struct, frozen=True):
    id: HexDigest
    report: CorrectionReport
    reporter: OrgId
    owner: OrgId
    reported_at: Millis
    deadline: Millis
    status: Literal["open", "corrected", "denied"]
    resolved_at: Millis | None = None
    reason: DenialReason | None = None
    late: bool = False


for _schema in (EntryInput, DirectoryEntry, CorrectionReport, Correction):
    check_schema(_schema)

# Which links each kind may carry, and the kind each link points to.
_LINKS: dict[str, dict[str, str]] = {
    "Practitioner": {},
    "PractitionerRole": {
        "practitioner": "Practitioner",
        "organization": "Organization",
        "locations": "Location",
        "networks": "Network",
        "services": "HealthcareService",
        "endpoints": "Endpoint",
    },
    "Organization": {"endpoints": "Endpoint", "networks": "Network"},
    "Location": {"organization": "Organization", "endpoints": "Endpoint"},
    "HealthcareService": {
        "organization": "Organization",
        "locations": "Location",
        "networks": "Network",
        "endpoints": "Endpoint",
    },
    "InsurancePlan": {"organization": "Organization", "networks": "Network"},
    "Network": {"organization": "Organization"},
    "Endpoint": {"organization": "Organization"},
}
_ALL_LINKS = ("practitioner", "organization", "locations", "networks", "services", "endpoints")


def _validated(value: msgspec.Struct) -> None:
    """The strict layer (patterns, vocabularies) for a value built in Python."""
    try:
        msgspec.convert(msgspec.to_builtins(value), type(value), strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"{type(value).__name__}: {exc}") from None


def business_deadline(start_ms: int, days: int = CORRECTION_BUSINESS_DAYS) -> int:
    """``start_ms`` plus ``days`` business days (Saturdays and Sundays skipped), in ms (UTC)."""
    moment = datetime.fromtimestamp(start_ms / 1000, UTC)
    left = days
    while left:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    return int(moment.timestamp() * 1000)


class Directory(Contract):
    name = NAMESPACE
    version = "1.0"
    schemas = {"entry": DirectoryEntry, "correction": Correction}

    def _get(self, stub: Stub, kind: str, entry_id: str) -> DirectoryEntry | None:
        found: DirectoryEntry | None = stub.get(f"entry/{kind}/{entry_id}")
        return found

    @invoke
    def publish(self, stub: Stub, entry: EntryInput) -> dict[str, Any]:
        """Create or replace an entry of the caller's organisation."""
        _validated(entry)
        allowed = _LINKS[entry.kind]
        for link in _ALL_LINKS:
            value = getattr(entry, link)
            targets = value if isinstance(value, list) else ([] if value is None else [value])
            if targets and link not in allowed:
                raise InvalidInput(f"a {entry.kind} has no {link}")
            for target in targets:
                if self._get(stub, allowed[link], target) is None:
                    raise ContractError(f"{entry.kind}.{link}: no {allowed[link]} {target}")
        if entry.kind == "PractitionerRole" and (
            entry.practitioner is None or entry.licence is None
        ):
            raise InvalidInput("a PractitionerRole names its practitioner and licence credential")
        if entry.licence is not None and entry.kind != "PractitionerRole":
            raise InvalidInput("only a PractitionerRole carries a licence credential")
        if entry.specialties and entry.kind not in ("PractitionerRole", "HealthcareService"):
            raise InvalidInput(f"a {entry.kind} has no specialty")
        if entry.kind == "Endpoint" and entry.url is None:
            raise InvalidInput("an Endpoint needs its url")
        if entry.kind != "Practitioner" and entry.kind != "PractitionerRole" and not entry.name:
            raise InvalidInput(f"a {entry.kind} needs a name")
        twin = {"Organization": "Network", "Network": "Organization"}.get(entry.kind)
        if twin is not None and self._get(stub, twin, entry.id) is not None:
            # both are FHIR Organizations: one id space
            raise ContractError(f"Organization/{entry.id} is already a {twin}")
        current = self._get(stub, entry.kind, entry.id)
        owner = stub.creator.org
        if current is not None and current.owner != owner:
            raise ContractError(f"{entry.kind}/{entry.id} belongs to {current.owner}")
        version = 1 if current is None else current.version + 1
        stub.put(
            f"entry/{entry.kind}/{entry.id}", DirectoryEntry(entry, owner, stub.timestamp, version)
        )
        stub.emit(
            "directory.published",
            {"kind": entry.kind, "id": entry.id, "owner": owner, "version": version},
        )
        return {"kind": entry.kind, "id": entry.id, "version": version}

    @invoke
    def report(self, stub: Stub, report: CorrectionReport) -> dict[str, Any]:
        """Any member reports a discrepancy in an entry; the owner has a deadline to resolve."""
        _validated(report)
        current = self._get(stub, report.kind, report.id)
        if current is None:
            raise ContractError(f"no directory entry {report.kind}/{report.id}")
        correction = Correction(
            id=stub.tx_id,
            report=report,
            reporter=stub.creator.org,
            owner=current.owner,
            reported_at=stub.timestamp,
            deadline=business_deadline(stub.timestamp),
            status="open",
        )
        stub.put(f"correction/{stub.tx_id}", correction)
        stub.emit(
            "directory.correction_reported",
            {"id": stub.tx_id, "owner": current.owner, "deadline": correction.deadline},
        )
        return msgspec.to_builtins(correction)  # type: ignore[no-any-return]

    @invoke
    def resolve(
        self, stub: Stub, correction: str, outcome: str, reason: str | None
    ) -> dict[str, Any]:
        """The owner confirms (``corrected``, after publishing the fix) or denies a report."""
        require(correction, HexDigest, "correction")
        require(outcome, Literal["corrected", "denied"], "outcome")
        found: Correction | None = stub.get(f"correction/{correction}")
        if found is None:
            raise ContractError("no such correction report")
        if found.owner != stub.creator.org:
            raise ContractError(f"only the entry's owner {found.owner} resolves this report")
        if found.status != "open":
            raise ContractError(f"the report is already {found.status}")
        if outcome == "denied":
            require(reason, DenialReason, "reason")
        elif reason is not None:
            raise InvalidInput("a confirmed correction takes no denial reason")
        resolved = msgspec.structs.replace(
            found,
            status=outcome,
            resolved_at=stub.timestamp,
            reason=reason,
            late=stub.timestamp > found.deadline,
        )
        _validated(resolved)
        stub.put(f"correction/{correction}", resolved)
        stub.emit(
            "directory.correction_resolved",
            {"id": correction, "status": outcome, "late": resolved.late},
        )
        return msgspec.to_builtins(resolved)  # type: ignore[no-any-return]

    @query
    def entry(self, stub: Stub, kind: str, entry_id: str) -> dict[str, Any] | None:
        require(kind, Kind, "kind")
        require(entry_id, EntryId, "entry_id")
        found = self._get(stub, kind, entry_id)
        return None if found is None else msgspec.to_builtins(found)

    @query
    def entries(self, stub: Stub, kind: str) -> list[dict[str, Any]]:
        """Every entry of a kind, by id."""
        require(kind, Kind, "kind")
        return [msgspec.to_builtins(e) for _k, e in stub.range(f"entry/{kind}/", f"entry/{kind}0")]

    @query
    def corrections(self, stub: Stub) -> list[dict[str, Any]]:
        return [msgspec.to_builtins(c) for _k, c in stub.range("correction/", "correction0")]
