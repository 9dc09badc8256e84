"""Consortium governance: approving contract definitions and changing membership.

An organisation's admin proposes a change; admins of other organisations approve it; once a
majority of the organisations in the consortium have approved, the change is applied in the same
transaction. Changes:

* ``contract``: ``{"name", "version", "policy"}`` — a contract may be invoked only once its
  definition is committed here, and its transactions are validated against that policy.
* ``add_org``: ``{"id", "root_key" (hex), "name"}``.
* ``remove_org``: ``{"id"}``.
* ``revoke_member``: ``{"org", "serial"}`` — signatures by that member fail from the next block.

Membership changes take effect for validation from the block after the one that commits them.
This contract's namespace (``_gov``) is read directly by the validator to build the membership.
"""

from __future__ import annotations

from typing import Any

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query, to_plain
from careledger.endorsement.policy import parse
from careledger.errors import ContractError, InvalidInput, PolicyError
from careledger.identity.msp import OrgDef, Role

NAMESPACE = "_gov"
GOVERNANCE_POLICY = "MAJORITY"


class ContractDefinition(msgspec.Struct, frozen=True):
    name: str
    version: str
    policy: str
    sequence: int


class Revocation(msgspec.Struct, frozen=True):
    org: str
    serial: int
    revoked_at: int


class GovProposal(msgspec.Struct, frozen=True):
    id: str
    kind: str
    change: dict[str, str]
    proposer: str
    approvals: list[str]
    status: str  # "open" | "applied"
    created_at: int


_KINDS = {
    "contract": {"name", "version", "policy"},
    "add_org": {"id", "root_key", "name"},
    "remove_org": {"id"},
    "revoke_member": {"org", "serial"},
}


def _org_ids(stub: Stub) -> list[str]:
    return [key.split("/", 1)[1] for key, _ in stub.range("org/", "org0")]


class Governance(Contract):
    name = NAMESPACE
    version = "1.0"
    schemas = {
        "org": OrgDef,
        "contract": ContractDefinition,
        "revoked": Revocation,
        "proposal": GovProposal,
    }

    def _admin_org(self, stub: Stub) -> str:
        if stub.creator.role != Role.ADMIN:
            raise ContractError("only an organisation admin may propose or approve changes")
        return stub.creator.org

    @invoke
    def propose(self, stub: Stub, kind: str, change: dict[str, str]) -> dict[str, Any]:
        org = self._admin_org(stub)
        expected = _KINDS.get(kind)
        if expected is None:
            raise InvalidInput(f"unknown change kind {kind!r}; expected one of {sorted(_KINDS)}")
        if set(change) != expected:
            raise InvalidInput(f"a {kind!r} change has exactly the fields {sorted(expected)}")
        self._check_change(stub, kind, change)
        proposal = GovProposal(
            id=stub.tx_id[:16],
            kind=kind,
            change=dict(change),
            proposer=org,
            approvals=[org],
            status="open",
            created_at=stub.timestamp,
        )
        proposal = self._maybe_apply(stub, proposal)
        stub.put(f"proposal/{proposal.id}", proposal)
        stub.emit("governance.proposed", {"id": proposal.id, "kind": kind})
        return to_plain(proposal)  # type: ignore[no-any-return]

    @invoke
    def approve(self, stub: Stub, proposal_id: str) -> dict[str, Any]:
        org = self._admin_org(stub)
        proposal = stub.get(f"proposal/{proposal_id}")
        if proposal is None:
            raise ContractError(f"no governance proposal {proposal_id!r}")
        if proposal.status != "open":
            raise ContractError(f"proposal {proposal_id} is already {proposal.status}")
        if org in proposal.approvals:
            raise ContractError(f"{org} has already approved proposal {proposal_id}")
        proposal = msgspec.structs.replace(proposal, approvals=[*proposal.approvals, org])
        proposal = self._maybe_apply(stub, proposal)
        stub.put(f"proposal/{proposal.id}", proposal)
        return to_plain(proposal)  # type: ignore[no-any-return]

    def _check_change(self, stub: Stub, kind: str, change: dict[str, str]) -> None:
        if kind == "contract":
            try:
                parse(change["policy"])
            except PolicyError as exc:
                raise InvalidInput(f"contract policy: {exc}") from exc
            if change["name"].startswith("_"):
                raise InvalidInput("names starting with '_' are reserved for system contracts")
        elif kind == "add_org":
            try:
                key = bytes.fromhex(change["root_key"])
            except ValueError as exc:
                raise InvalidInput("root_key must be hex") from exc
            if len(key) != 32:
                raise InvalidInput("root_key must be a 32-byte Ed25519 public key")
        elif kind == "revoke_member" and not change["serial"].isdigit():
            raise InvalidInput("serial must be a non-negative integer")

    def _maybe_apply(self, stub: Stub, proposal: GovProposal) -> GovProposal:
        orgs = _org_ids(stub)
        approvals = [o for o in proposal.approvals if o in orgs]
        if len(approvals) < len(orgs) // 2 + 1:
            return proposal
        change = proposal.change
        if proposal.kind == "contract":
            current = stub.get(f"contract/{change['name']}")
            sequence = 1 if current is None else current.sequence + 1
            stub.put(
                f"contract/{change['name']}",
                ContractDefinition(change["name"], change["version"], change["policy"], sequence),
            )
        elif proposal.kind == "add_org":
            stub.put(
                f"org/{change['id']}",
                OrgDef(change["id"], bytes.fromhex(change["root_key"]), change["name"]),
            )
        elif proposal.kind == "remove_org":
            stub.delete(f"org/{change['id']}")
        elif proposal.kind == "revoke_member":
            stub.put(
                f"revoked/{change['org']}/{int(change['serial'])}",
                Revocation(change["org"], int(change["serial"]), stub.timestamp),
            )
        stub.emit("governance.applied", {"id": proposal.id, "kind": proposal.kind})
        return msgspec.structs.replace(proposal, status="applied")

    @query
    def contract(self, stub: Stub, name: str) -> dict[str, Any] | None:
        definition = stub.get(f"contract/{name}")
        return None if definition is None else to_plain(definition)

    @query
    def contracts(self, stub: Stub) -> list[dict[str, Any]]:
        return [to_plain(v) for _, v in stub.range("contract/", "contract0")]

    @query
    def organisations(self, stub: Stub) -> list[str]:
        return _org_ids(stub)

    @query
    def proposal(self, stub: Stub, proposal_id: str) -> dict[str, Any] | None:
        p = stub.get(f"proposal/{proposal_id}")
        return None if p is None else to_plain(p)
