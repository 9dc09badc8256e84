"""The ``locator`` contract: the record locator index — who holds what about whom, never the data.

An entry says: holder organisation *H* holds version *v* of a resource of type *T* about the
patient with handle *P*, whose salted content hash is *c*, about care in month *m*, with
confidentiality *n*. The holder is always the transaction creator's organisation: an
organisation indexes only its own resources. What is *not* here, on purpose:

* **the patient's DID** — entries are keyed by a *handle*, a pseudonym the patient derives from
  their own key (:func:`patient_handle`) and gives to the providers they register with. The DID is
  public on the ledger (``dids``); keying the index by it would let every member list every
  provider a person visits — a psychiatric clinic, a methadone programme — by looking up a DID.
  Members who were not given the handle cannot join the two.
* **the FHIR resource id** — servers may use an MRN or a client-chosen id as ``Patient.id``. The
  entry holds ``ref = SHA-256(domain ‖ salt ‖ "Type/id")`` instead; the holder hands the salt out
  with the resource, so a requester recomputes both ``ref`` and the content hash.
* **the day** — the clinical date is kept to the month (``YYYY-MM``): dates of care are PHI
  under HIPAA Safe Harbor; a month is enough to prefilter ``_since`` and to order sources.
* **sensitive categories** — only the confidentiality code (``N``, ``R``…) is indexed; whether a
  record is about substance use or HIV stays with the holder, which enforces it.

The content hash is ``SHA-256(domain ‖ salt ‖ SHA-256(bytes))``: the FHIR store reports the
plain SHA-256 of the exact bytes it serves, and salting that digest is as binding as salting the
bytes while the salt keeps a guessable resource (a normal lab value) from being confirmed by
hashing candidates.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query
from careledger.contracts.phi_guard import (
    Confidentiality,
    Count,
    Handle,
    HexDigest,
    Millis,
    Month,
    OrgId,
    ResourceType,
    check_schema,
    check_struct,
    require,
)
from careledger.errors import ContractError, InvalidInput

NAMESPACE = "locator"
MAX_ENTRIES = 1000
REF_DOMAIN = b"careledger/locator/ref/v1\x00"
CONTENT_DOMAIN = b"careledger/locator/content/v1\x00"
HANDLE_DOMAIN = b"careledger/locator/handle/v1\x00"

Version = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)]


class EntryInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One change a holder registers (a bundle's changes go in one transaction)."""

    handle: Handle
    ref: HexDigest
    resource_type: ResourceType
    version: Version
    action: Literal["create", "update", "delete"]
    content_hash: HexDigest | None = None  # None for a delete
    period: Month | None = None
    confidentiality: Confidentiality = "N"


class LocatorEntry(msgspec.Struct, frozen=True):
    """The latest registered version of one resource at one holder."""

    handle: Handle
    holder: OrgId
    ref: HexDigest
    resource_type: ResourceType
    version: Version
    content_hash: HexDigest | None
    period: Month | None
    confidentiality: Confidentiality
    status: Literal["active", "deleted", "erased"]
    recorded: Millis  # the registering proposal's timestamp
    tx: HexDigest


class Erasure(msgspec.Struct, frozen=True):
    """A holder crypto-shredded the patient's data: its entries are marked erased."""

    handle: Handle
    holder: OrgId
    entries: Count
    recorded: Millis
    tx: HexDigest


for _schema in (EntryInput, LocatorEntry, Erasure):
    check_schema(_schema)


def resource_ref(salt: bytes, resource_type: str, resource_id: str) -> str:
    """The pseudonymous key of ``Type/id`` at a holder (``salt`` is the holder's)."""
    return hashlib.sha256(REF_DOMAIN + salt + f"{resource_type}/{resource_id}".encode()).hexdigest()


def salted_content_hash(salt: bytes, sha256_hex: str) -> str:
    """The on-ledger hash of a resource version whose exact bytes have SHA-256 ``sha256_hex``."""
    return hashlib.sha256(CONTENT_DOMAIN + salt + bytes.fromhex(sha256_hex)).hexdigest()


def patient_handle(handle_secret: bytes) -> str:
    """A handle from a secret only the patient's wallet can produce.

    ``handle_secret`` is the patient's Ed25519 signature over :func:`handle_message` (Ed25519 is
    deterministic, so the wallet regenerates it from the key; a rotated key keeps the handle by
    storing it). The handle reveals nothing about the DID without that signature.
    """
    return "ph1" + hashlib.sha256(HANDLE_DOMAIN + handle_secret).hexdigest()


def handle_message(did: str) -> bytes:
    """What a patient signs to derive their locator handle."""
    return HANDLE_DOMAIN + did.encode()


def _key(handle: str, holder: str, ref: str) -> str:
    return f"entry/{handle}/{holder}/{ref}"


class RecordLocator(Contract):
    name = NAMESPACE
    version = "1.0"
    schemas = {"entry": LocatorEntry, "erasure": Erasure}

    @invoke
    def register(self, stub: Stub, entries: list[EntryInput]) -> dict[str, Any]:
        """Index the creator organisation's changes; returns how many were written and skipped.

        A version at or below the one already indexed is skipped (re-registration after a
        retry or a re-index); a patient the holder erased cannot be indexed again there.
        """
        if not 1 <= len(entries) <= MAX_ENTRIES:
            raise InvalidInput(f"register takes 1 to {MAX_ENTRIES} entries")
        holder = stub.creator.org
        written = skipped = 0
        erased: dict[str, bool] = {}
        for item in entries:
            # ``Contract.call`` converted the arguments strictly (every field's pattern is
            # checked); an entry that is written is screened as the LocatorEntry it becomes
            # (every field of the input but the ``action`` code), so only a skipped one is
            # screened here: its fields stay in the transaction's arguments.
            if (item.action == "delete") != (item.content_hash is None):
                raise InvalidInput("a delete has no content hash; a create or update has one")
            if item.handle not in erased:
                erased[item.handle] = stub.get(f"erasure/{item.handle}/{holder}") is not None
            if erased[item.handle]:
                raise ContractError(
                    "the holder erased this patient's data; nothing more is indexed"
                )
            key = _key(item.handle, holder, item.ref)
            current: LocatorEntry | None = stub.get(key)
            if current is not None and current.version >= item.version:
                check_struct(item)
                skipped += 1
                continue
            entry = LocatorEntry(
                item.handle,
                holder,
                item.ref,
                item.resource_type,
                item.version,
                item.content_hash,
                item.period,
                item.confidentiality,
                "deleted" if item.action == "delete" else "active",
                stub.timestamp,
                stub.tx_id,
            )
            stub.put(key, entry)
            written += 1
        stub.emit("locator.registered", {"holder": holder, "entries": written})
        return {"written": written, "skipped": skipped}

    @invoke
    def erase(self, stub: Stub, handle: Handle) -> dict[str, Any]:
        """Mark every entry of the creator organisation for ``handle`` erased. Erasing again
        changes nothing (``{"erased": 0, "already": True}``): a resubmission is harmless."""
        require(handle, Handle, "handle")
        holder = stub.creator.org
        if stub.get(f"erasure/{handle}/{holder}") is not None:
            return {"erased": 0, "already": True}
        prefix = f"entry/{handle}/{holder}/"
        count = 0
        for key, entry in stub.range(prefix, prefix[:-1] + "0"):
            if entry.status != "erased":
                stub.put(key, msgspec.structs.replace(entry, status="erased", tx=stub.tx_id))
                count += 1
        stub.put(
            f"erasure/{handle}/{holder}",
            Erasure(handle, holder, count, stub.timestamp, stub.tx_id),
        )
        stub.emit("locator.erased", {"holder": holder, "entries": count})
        return {"erased": count}

    @query
    def entries(
        self, stub: Stub, handle: Handle, types: list[ResourceType], since: Millis
    ) -> list[dict[str, Any]]:
        """Every entry for ``handle`` (all holders), optionally of ``types`` and recorded at or
        after ``since`` (ms; 0 for all)."""
        require(handle, Handle, "handle")
        wanted = set(types)
        found = []
        for _, entry in stub.range(f"entry/{handle}/", f"entry/{handle}0"):
            if wanted and entry.resource_type not in wanted:
                continue
            if entry.recorded < since:
                continue
            found.append(msgspec.to_builtins(entry))
        return found

    @query
    def erasures(self, stub: Stub, handle: Handle) -> list[dict[str, Any]]:
        """The holders that erased the patient's data."""
        require(handle, Handle, "handle")
        return [
            msgspec.to_builtins(e)
            for _k, e in stub.range(f"erasure/{handle}/", f"erasure/{handle}0")
        ]
