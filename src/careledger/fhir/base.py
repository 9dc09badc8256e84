"""Extension points of the FHIR capability: the resource store, change listeners, access policy.

* :class:`ResourceStore` keeps encrypted resource versions and their search index;
  :mod:`careledger.fhir.store.sqlite` is the embedded implementation (``":memory:"`` for tests).
* :class:`ResourceListener` hears of every committed change: the hook the record locator, and
  the audit trail, attach to (they see hashes and identifiers, never content).
  :func:`version_event` is the one place an event's date and label are derived from content
  (for a live write and for a replay, :meth:`ResourceStore.changes_since`, alike).
* :class:`AccessPolicy` is consulted before anything is served to another organisation: the hook
  for on-ledger consent.

In-memory implementations the tests use: :class:`RecordingListener`, :class:`AllowAll`,
:class:`ConsentList`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import msgspec

from careledger.fhir.query import SearchQuery
from careledger.fhir.resources import JSON, SensitivityLabel, clinical_date, sensitivity
from careledger.fhir.searchparams import IndexEntry


@dataclass(frozen=True, slots=True)
class Head:
    """The latest version of a resource, without its content."""

    resource_type: str
    id: str
    version: int
    deleted: bool
    erased: bool


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One decrypted version. ``content`` is the exact JSON served (``None`` for a delete), so a
    holder of ``content_hash`` (SHA-256, hex) can check what it received."""

    resource_type: str
    id: str
    version: int
    last_updated: str
    content: bytes | None
    content_hash: str | None
    patient: str | None

    @property
    def deleted(self) -> bool:
        return self.content is None


@dataclass(frozen=True, slots=True)
class Change:
    """A new version to write. ``previous`` is the version the writer saw (0: none), checked
    atomically by :meth:`ResourceStore.commit` like an MVCC read."""

    resource_type: str
    id: str
    version: int
    previous: int
    last_updated: str
    patient: str | None
    content: bytes | None
    index: tuple[IndexEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class ChangedVersion:
    """One version listed by :meth:`ResourceStore.changes_since`: ``created`` when it made the
    resource exist (version 1, or the first version after a deletion); ``updated_us`` as the
    store keeps it (:func:`careledger.fhir.store.common.microseconds` of ``last_updated``)."""

    stored: StoredVersion
    created: bool
    updated_us: int


class ResourceStore(Protocol):
    """Encrypted, versioned FHIR resources of one organisation. Thread-safe; one writer at a
    time. Every method raises :class:`~careledger.errors.StorageError` when the store is
    unusable."""

    def head(self, resource_type: str, resource_id: str) -> Head | None:
        """The latest version's state, or None if the resource never existed."""
        ...

    def commit(self, changes: Sequence[Change]) -> list[str | None]:
        """Encrypt and write all ``changes`` atomically; returns each content hash.

        Raises :class:`~careledger.fhir.errors.VersionConflict` (nothing written) when a
        resource's latest version is not ``previous``, and
        :class:`~careledger.fhir.errors.ResourceGone` when its patient was erased.
        """
        ...

    def read(
        self, resource_type: str, resource_id: str, version: int | None = None
    ) -> StoredVersion:
        """The latest (or the given) version. Raises ``ResourceNotFound``, or ``ResourceGone``
        for a deleted resource or version (``erased=True`` after crypto-shredding)."""
        ...

    def read_current(self, references: Sequence[tuple[str, str]]) -> list[StoredVersion]:
        """The latest versions of ``(type, id)`` pairs that exist and are readable; others are
        skipped (for ``_include``)."""
        ...

    def history(
        self,
        resource_type: str,
        resource_id: str | None,
        since: int | None,
        count: int,
        offset: int,
    ) -> tuple[list[StoredVersion], int]:
        """Versions newest first (deletes included), and how many there are in all. ``since``
        in UTC microseconds. Raises ``ResourceGone(erased=True)`` for an erased resource."""
        ...

    def search(self, query: SearchQuery) -> tuple[list[StoredVersion], int]:
        """A page of the latest, non-deleted, non-erased versions matching ``query``, oldest
        change first, and the total number of matches."""
        ...

    def changes_since(self, since_us: int, *, batch: int = 500) -> Iterator[ChangedVersion]:
        """Every version stored at or after ``since_us`` (UTC microseconds of ``last_updated``),
        deletions included, oldest first (ties by type, id, version), read ``batch`` at a time
        (no lock is held between batches). Versions of erased patients are skipped: they cannot
        be decrypted."""
        ...

    def erase_patient(self, patient: str) -> int:
        """Destroy the key of ``patient`` (``Patient/<id>``) and its plaintext index entries;
        returns the number of resources made unreadable. Idempotent."""
        ...

    def close(self) -> None: ...


# --- listeners --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourceEvent:
    """What the record locator learns of a change: identifiers, hash, dates, label; no content."""

    action: Literal["create", "update", "delete"]
    patient: str | None
    resource_type: str
    id: str
    version: int
    content_hash: str | None
    date: str | None  # when the care happened if the resource says, else last_updated
    last_updated: str
    sensitivity: SensitivityLabel


def version_event(
    action: Literal["create", "update"],
    patient: str | None,
    resource_type: str,
    resource_id: str,
    version: int,
    content_hash: str | None,
    last_updated: str,
    resource: JSON | None,
) -> ResourceEvent:
    """The event of one version; ``resource`` is its content (``None``: a deletion, whatever
    ``action`` says). The date is the resource's clinical date, else ``last_updated``; the label
    comes from ``meta.security``. The only place these are derived, so a write and its replay
    tell the listener the same thing."""
    if resource is None:
        return ResourceEvent(
            "delete", patient, resource_type, resource_id, version, None, last_updated,
            last_updated, sensitivity({}),
        )  # fmt: skip
    return ResourceEvent(
        action, patient, resource_type, resource_id, version, content_hash,
        clinical_date(resource) or last_updated, last_updated, sensitivity(resource),
    )  # fmt: skip


def event_of(stored: StoredVersion, *, created: bool) -> ResourceEvent:
    """The event of a stored (decrypted) version, as its write told it."""
    return version_event(
        "create" if created else "update",
        stored.patient,
        stored.resource_type,
        stored.id,
        stored.version,
        stored.content_hash,
        stored.last_updated,
        None if stored.content is None else msgspec.json.decode(stored.content),
    )


class ResourceListener(Protocol):
    """Told after changes are committed: one call per request or transaction Bundle, so a
    ledger transaction can cover exactly what committed together. A listener that raises does
    not undo the commit (the error is logged); a durable listener should keep an outbox, and a
    cursor of what reached it, to catch up with
    :meth:`~careledger.fhir.service.FhirService.replay_changes` at start."""

    def resources_changed(self, events: Sequence[ResourceEvent]) -> None: ...

    def patient_erased(self, patient: str) -> None: ...


@dataclass
class RecordingListener:
    """Keeps every event in memory (tests, demos)."""

    events: list[ResourceEvent] = field(default_factory=list)
    erased: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def resources_changed(self, events: Sequence[ResourceEvent]) -> None:
        with self._lock:
            self.events.extend(events)

    def patient_erased(self, patient: str) -> None:
        with self._lock:
            self.erased.append(patient)


# --- access policy ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """One resource about to be served to ``requester`` (another organisation's id)."""

    requester: str
    interaction: Literal["read", "vread", "search", "history"]
    resource_type: str
    resource_id: str
    patient: str | None
    sensitivity: SensitivityLabel
    purpose: str | None = None


@dataclass(frozen=True, slots=True)
class AccessDecision:
    permitted: bool
    reason: str = ""


class AccessPolicy(Protocol):
    """Decides whether another organisation may see one resource. Must not raise for a denial:
    return ``AccessDecision(False, reason)``. Reads answer 403, searches leave it out."""

    def decide(self, request: AccessRequest) -> AccessDecision: ...


class AllowAll:
    """Every organisation may see everything: the default until consent is on the ledger."""

    def decide(self, request: AccessRequest) -> AccessDecision:
        return AccessDecision(True, "allow-all policy")


@dataclass
class ConsentList:
    """Permits ``(requester, patient)`` pairs granted in memory, and at most ``max_level``
    confidentiality (``N``); a stand-in for the consent contract in tests."""

    granted: set[tuple[str, str]] = field(default_factory=set)
    max_level: str = "N"

    def decide(self, request: AccessRequest) -> AccessDecision:
        if request.patient is None or (request.requester, request.patient) not in self.granted:
            return AccessDecision(False, "no consent on record")
        if "ULMNRV".index(request.sensitivity.confidentiality) > "ULMNRV".index(self.max_level):
            return AccessDecision(False, "confidentiality above what was consented")
        return AccessDecision(True, "consented")
