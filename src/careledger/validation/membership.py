"""Reading the membership and contract definitions in force from the governance namespace."""

from __future__ import annotations

from careledger.contracts.governance import NAMESPACE, ContractDefinition, Revocation
from careledger.contracts.values import decode_value
from careledger.identity.msp import Membership, OrgDef
from careledger.ledger.state.base import StateStore


def load_membership(state: StateStore) -> Membership:
    orgs = {
        key.split("/", 1)[1]: decode_value(vv.value, OrgDef)
        for key, vv in state.range(NAMESPACE, "org/", "org0")
    }
    revoked = set()
    for _key, vv in state.range(NAMESPACE, "revoked/", "revoked0"):
        r = decode_value(vv.value, Revocation)
        revoked.add((r.org, r.serial))
    return Membership(orgs=orgs, revoked=revoked)


def load_definition(state: StateStore, name: str) -> ContractDefinition | None:
    vv = state.get(NAMESPACE, f"contract/{name}")
    return None if vv is None else decode_value(vv.value, ContractDefinition)
