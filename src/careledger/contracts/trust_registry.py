"""The ``trust_registry`` system contract: which issuer DIDs are trusted for which credential types.

Two kinds of record: a *binding* says which organisation controls an issuer DID; an *entry* says
the issuer is accredited for one credential type (a VC ``type`` name or an SD-JWT ``vct`` URL).

Who may write what (documented in docs/credentials.md, "Trust registry on the ledger"):

* **Own issuers, by an org admin alone.** ``bind_issuer(did, signature)`` binds a DID to the
  admin's organisation when the DID's controller signs :func:`binding_payload` — checked here for
  ``did:key`` (Ed25519) and for ``did:careledger`` (current keys read from the ``dids`` namespace).
  An admin then ``accredit``\\ s and ``withdraw``\\ s entries for issuers bound to its organisation.
* **Anything touching another organisation's issuer** — accrediting or withdrawing it, unbinding a
  DID, binding a DID whose control the contract cannot check (``did:web``) — is a *motion*:
  ``propose(action, issuer, credential_type, org)`` by an admin, ``approve(id)`` by admins of other
  organisations; it applies when admins of a majority of the consortium's organisations (as
  governance counts them: read from ``_gov`` with a range read, so an organisation added or
  removed meanwhile makes the approval a phantom-read conflict) have approved.

Entries of an issuer are removed when it is unbound. Deterministic: signatures are checked with
:func:`careledger.crypto.keys.verify`; no clock, no randomness.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query, to_plain
from careledger.contracts.dids import NAMESPACE as DIDS_NAMESPACE
from careledger.contracts.dids import DidRecord
from careledger.contracts.values import decode_value
from careledger.crypto import encoding
from careledger.crypto.keys import verify
from careledger.errors import ContractError, InvalidInput
from careledger.identity.did.errors import InvalidDid
from careledger.identity.did.keys import KeyType, PublicKey
from careledger.identity.msp import Role

NAMESPACE = "trust_registry"
BINDING_DOMAIN = "careledger/trust_registry/bind/v1"
ACTIONS = ("accredit", "withdraw", "bind", "unbind")

_DID_RE = re.compile(r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]{1,180}$")
_TYPE_RE = re.compile(
    r"^(?:[A-Za-z][A-Za-z0-9]{0,63}|https://[A-Za-z0-9.-]+(?:/[A-Za-z0-9._~/-]*)?)$"
)
_MAX_TYPE = 200


class IssuerBinding(msgspec.Struct, frozen=True):
    """Which organisation controls an issuer DID (``org == ""``: unbound)."""

    did: str
    org: str
    generation: int  # bumps on every (re)binding, so an old binding signature cannot be replayed
    via: str  # "proof" | "motion:<id>"
    since: int


class TrustEntry(msgspec.Struct, frozen=True):
    issuer: str
    credential_type: str
    org: str
    via: str
    since: int


class Motion(msgspec.Struct, frozen=True):
    id: str
    action: str
    issuer: str
    credential_type: str
    org: str
    proposer: str
    approvals: list[str]
    status: str  # "open" | "applied"
    created_at: int


def binding_payload(did: str, org: str, generation: int) -> bytes:
    """What the issuer DID's controller signs to let ``org`` bind it (``generation`` from
    ``issuer(did)``, 1 for a DID never bound)."""
    return encoding.encode(
        {"domain": BINDING_DOMAIN, "did": did, "org": org, "generation": generation}
    )


def _type_digest(credential_type: str) -> str:
    return hashlib.sha256(credential_type.encode()).hexdigest()[:32]


def _entry_key(did: str, credential_type: str) -> str:
    return f"entry/{did}/{_type_digest(credential_type)}"


def _check_did(did: str) -> None:
    if not _DID_RE.match(did):
        raise InvalidInput(f"not an issuer DID: {did[:80]!r}")


def _check_type(credential_type: str) -> None:
    if len(credential_type) > _MAX_TYPE or not _TYPE_RE.match(credential_type):
        raise InvalidInput(
            f"credential type {credential_type[:80]!r} must be a type name or an https vct URL"
        )


class TrustRegistry(Contract):
    name = NAMESPACE
    version = "1.0"
    schemas = {"issuer": IssuerBinding, "entry": TrustEntry, "motion": Motion}

    def _admin(self, stub: Stub) -> str:
        if stub.creator.role != Role.ADMIN:
            raise ContractError("only an organisation admin may change the trust registry")
        return stub.creator.org

    def _binding(self, stub: Stub, did: str) -> IssuerBinding | None:
        binding: IssuerBinding | None = stub.get(f"issuer/{did}")
        return binding

    def _controller_keys(self, stub: Stub, did: str) -> list[bytes]:
        if did.startswith("did:key:"):
            try:
                key = PublicKey.from_multikey(did[len("did:key:") :])
            except InvalidDid as exc:
                raise InvalidInput(f"{did}: {exc}") from exc
            return [key.raw] if key.key_type is KeyType.ED25519 else []
        if did.startswith("did:careledger:"):
            raw = stub.read_namespace(DIDS_NAMESPACE, f"did/{did}")
            if raw is None:
                raise ContractError(f"{did} is not anchored in the dids contract")
            record: DidRecord = decode_value(raw, DidRecord)
            if record.deactivated:
                raise ContractError(f"{did} is deactivated")
            return [PublicKey.from_multikey(k).raw for k in record.keys]
        raise ContractError(
            f"control of {did.split(':')[1]} DIDs cannot be checked on the ledger; "
            "bind it through a motion"
        )

    def _bind(self, stub: Stub, did: str, org: str, via: str) -> IssuerBinding:
        current = self._binding(stub, did)
        generation = 1 if current is None else current.generation + 1
        binding = IssuerBinding(did, org, generation, via, stub.timestamp)
        stub.put(f"issuer/{did}", binding)
        stub.emit("trust.bound", {"issuer": did, "org": org})
        return binding

    def _owned(self, stub: Stub, did: str, org: str) -> IssuerBinding:
        binding = self._binding(stub, did)
        if binding is None or not binding.org:
            raise ContractError(f"{did} is not bound to an organisation")
        if binding.org != org:
            raise ContractError(
                f"{did} is controlled by {binding.org}; {org} may change it only by a motion"
            )
        return binding

    def _accredit(self, stub: Stub, did: str, kind: str, org: str, via: str) -> None:
        key = _entry_key(did, kind)
        if stub.get(key) is not None:
            raise ContractError(f"{did} is already trusted for {kind}")
        stub.put(key, TrustEntry(did, kind, org, via, stub.timestamp))
        stub.emit("trust.accredited", {"issuer": did, "credential_type": kind})

    def _withdraw(self, stub: Stub, did: str, kind: str) -> None:
        key = _entry_key(did, kind)
        if stub.get(key) is None:
            raise ContractError(f"{did} is not trusted for {kind}")
        stub.delete(key)
        stub.emit("trust.withdrawn", {"issuer": did, "credential_type": kind})

    # -- an organisation's own issuers -------------------------------------------------------
    @invoke
    def bind_issuer(self, stub: Stub, did: str, signature: bytes) -> dict[str, Any]:
        """Bind ``did`` to the caller's organisation; ``signature`` by the DID's controller."""
        org = self._admin(stub)
        _check_did(did)
        current = self._binding(stub, did)
        if current is not None and current.org:
            raise ContractError(f"{did} is already bound to {current.org}")
        generation = 1 if current is None else current.generation + 1
        payload = binding_payload(did, org, generation)
        if not any(verify(k, payload, signature) for k in self._controller_keys(stub, did)):
            raise ContractError(f"binding {did} to {org} is not signed by the DID's controller")
        return to_plain(self._bind(stub, did, org, "proof"))  # type: ignore[no-any-return]

    @invoke
    def accredit(self, stub: Stub, did: str, credential_type: str) -> None:
        """Trust an issuer of the caller's organisation for ``credential_type``."""
        org = self._admin(stub)
        _check_did(did)
        _check_type(credential_type)
        self._owned(stub, did, org)
        self._accredit(stub, did, credential_type, org, "admin")

    @invoke
    def withdraw(self, stub: Stub, did: str, credential_type: str) -> None:
        """Stop trusting an issuer of the caller's organisation for ``credential_type``."""
        org = self._admin(stub)
        _check_did(did)
        self._owned(stub, did, org)
        self._withdraw(stub, did, credential_type)

    # -- changes for other organisations: motions --------------------------------------------
    @invoke
    def propose(
        self, stub: Stub, action: str, issuer: str, credential_type: str, org: str
    ) -> dict[str, Any]:
        """Open a motion; ``credential_type`` is "" for bind/unbind, ``org`` "" except for bind."""
        proposer = self._admin(stub)
        if action not in ACTIONS:
            raise InvalidInput(f"unknown action {action!r}; expected one of {list(ACTIONS)}")
        _check_did(issuer)
        if action in ("accredit", "withdraw"):
            _check_type(credential_type)
            if org:
                raise InvalidInput(f"{action} takes no org (the issuer's binding decides)")
        elif credential_type:
            raise InvalidInput(f"{action} takes no credential type")
        if action == "bind" and stub.read_namespace("_gov", f"org/{org}") is None:
            raise InvalidInput(f"{org!r} is not an organisation of the consortium")
        if action != "bind" and org:
            raise InvalidInput(f"{action} takes no org")
        motion = Motion(
            stub.tx_id[:16],
            action,
            issuer,
            credential_type,
            org,
            proposer,
            [proposer],
            "open",
            stub.timestamp,
        )
        stub.put(f"motion/{motion.id}", motion)
        stub.emit("trust.motion", {"id": motion.id, "action": action})
        return to_plain(motion)  # type: ignore[no-any-return]

    @invoke
    def approve(self, stub: Stub, motion_id: str) -> dict[str, Any]:
        """Approve a motion; it applies once a majority of the member orgs approved."""
        org = self._admin(stub)
        motion: Motion | None = stub.get(f"motion/{motion_id}")
        if motion is None:
            raise ContractError(f"no trust registry motion {motion_id!r}")
        if motion.status != "open":
            raise ContractError(f"motion {motion_id} is already {motion.status}")
        if org in motion.approvals:
            raise ContractError(f"{org} has already approved motion {motion_id}")
        motion = msgspec.structs.replace(motion, approvals=[*motion.approvals, org])
        orgs = {key.split("/", 1)[1] for key, _ in stub.range_namespace("_gov", "org/", "org0")}
        members = [o for o in motion.approvals if o in orgs]
        if len(members) >= len(orgs) // 2 + 1:
            self._apply(stub, motion)
            motion = msgspec.structs.replace(motion, status="applied")
        stub.put(f"motion/{motion.id}", motion)
        return to_plain(motion)  # type: ignore[no-any-return]

    def _apply(self, stub: Stub, motion: Motion) -> None:
        via = f"motion:{motion.id}"
        did = motion.issuer
        binding = self._binding(stub, did)
        bound = binding is not None and bool(binding.org)
        if motion.action == "bind":
            if bound:
                raise ContractError(f"{did} is already bound; unbind it first")
            self._bind(stub, did, motion.org, via)
            return
        if not bound or binding is None:
            raise ContractError(f"{did} is not bound to an organisation")
        if motion.action == "accredit":
            self._accredit(stub, did, motion.credential_type, binding.org, via)
        elif motion.action == "withdraw":
            self._withdraw(stub, did, motion.credential_type)
        else:  # unbind: the issuer and all its entries go
            for key, _ in stub.range(f"entry/{did}/", f"entry/{did}0"):
                stub.delete(key)
            stub.put(f"issuer/{did}", msgspec.structs.replace(binding, org="", via=via))
            stub.emit("trust.unbound", {"issuer": did})

    # -- queries ------------------------------------------------------------------------------
    @query
    def is_trusted(self, stub: Stub, issuer: str, credential_type: str) -> bool:
        if not _DID_RE.match(issuer) or len(credential_type) > _MAX_TYPE:
            return False
        entry: TrustEntry | None = stub.get(_entry_key(issuer, credential_type))
        binding = self._binding(stub, issuer)
        return entry is not None and binding is not None and binding.org == entry.org

    @query
    def issuer(self, stub: Stub, did: str) -> dict[str, Any] | None:
        binding = self._binding(stub, did) if _DID_RE.match(did) else None
        return None if binding is None else to_plain(binding)

    @query
    def entries(self, stub: Stub, did: str) -> list[dict[str, Any]]:
        _check_did(did)
        return [to_plain(v) for _, v in stub.range(f"entry/{did}/", f"entry/{did}0")]

    @query
    def motion(self, stub: Stub, motion_id: str) -> dict[str, Any] | None:
        found = stub.get(f"motion/{motion_id}")
        return None if found is None else to_plain(found)
