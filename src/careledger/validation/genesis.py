"""The genesis block: the consortium's initial organisations and the governance contract.

Block 0 holds one transaction, the canonical encoding of ``{"genesis": config}``. Its effect on
state is derived from the config alone (no endorsement exists yet), and the orderer signature on
it is checked against the organisations it lists. The genesis hash is the consortium's trust
anchor.
"""

from __future__ import annotations

from typing import Any

import msgspec

from careledger.contracts.governance import GOVERNANCE_POLICY, NAMESPACE, ContractDefinition
from careledger.contracts.values import encode_value
from careledger.crypto import encoding
from careledger.errors import EncodingError
from careledger.identity.msp import Membership, OrgDef
from careledger.ledger.state.base import StateWrite


class GenesisConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    consortium: str
    orgs: list[OrgDef]
    created_at: int


def genesis_tx(config: GenesisConfig) -> bytes:
    return encoding.encode({"genesis": msgspec.to_builtins(config, builtin_types=(bytes,))})


def parse_genesis_tx(raw: bytes) -> GenesisConfig:
    obj: Any = encoding.decode(raw)
    if not isinstance(obj, dict) or set(obj) != {"genesis"}:
        raise EncodingError("block 0 must hold exactly one genesis configuration")
    try:
        return msgspec.convert(obj["genesis"], GenesisConfig, strict=True)
    except msgspec.ValidationError as exc:
        raise EncodingError(f"genesis configuration: {exc}") from exc


def genesis_membership(config: GenesisConfig) -> Membership:
    return Membership(orgs={o.id: o for o in config.orgs})


def genesis_writes(config: GenesisConfig, tx_id: str) -> list[StateWrite]:
    writes = [
        StateWrite(NAMESPACE, f"org/{o.id}", encode_value(o, OrgDef), (0, 0), tx_id)
        for o in config.orgs
    ]
    gov = ContractDefinition(NAMESPACE, "1.0", GOVERNANCE_POLICY, 1)
    writes.append(
        StateWrite(
            NAMESPACE,
            f"contract/{NAMESPACE}",
            encode_value(gov, ContractDefinition),
            (0, 0),
            tx_id,
        )
    )
    return sorted(writes, key=lambda w: w.key)
