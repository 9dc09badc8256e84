"""Transaction simulation: run a contract function against committed state, record read/write sets.

The simulator is the :class:`~careledger.contracts.base.Stub` an endorser hands to a contract. It
records the version of every key read (first read wins), every range scanned with what it
returned, and every write, without changing state. Reads see the transaction's own earlier writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from careledger.contracts.base import MAX_KEY_LENGTH, Contract, to_plain
from careledger.contracts.phi_guard import screen_event, screen_state
from careledger.contracts.values import decode_value, encode_value
from careledger.errors import ContractError, InvalidInput
from careledger.identity.msp import MemberCert
from careledger.ledger.state.base import StateStore, VersionedValue
from careledger.ledger.transaction import Event, KVRead, KVWrite, NsRWSet, RangeRead, Version

MAX_EVENTS = 64


def check_key(key: str) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH or "\x00" in key:
        raise ContractError(f"state keys are 1-{MAX_KEY_LENGTH} characters without NUL")


class Simulation:
    """One transaction's view of the state, for one contract namespace."""

    def __init__(
        self,
        state: StateStore,
        contract: Contract,
        *,
        tx_id: str,
        timestamp: int,
        creator: MemberCert,
        read_only: bool = False,
    ) -> None:
        self.state = state
        self.contract = contract
        self.namespace = contract.name
        self.tx_id = tx_id
        self.timestamp = timestamp
        self.creator = creator
        self.read_only = read_only
        self._reads: dict[tuple[str, str], Version | None] = {}
        self._ranges: dict[str, list[RangeRead]] = {}
        self._writes: dict[str, bytes | None] = {}
        self._events: list[Event] = []

    # -- Stub -------------------------------------------------------------------------------
    def _read_raw(self, namespace: str, key: str) -> bytes | None:
        vv = self.state.get(namespace, key)
        self._reads.setdefault((namespace, key), None if vv is None else vv.version)
        return None if vv is None else vv.value

    def get(self, key: str) -> Any | None:
        check_key(key)
        schema = self.contract.schema_for(key)
        writes = self._writes
        raw = writes[key] if key in writes else self._read_raw(self.namespace, key)
        return None if raw is None else decode_value(raw, schema)

    def put(self, key: str, value: msgspec.Struct) -> None:
        self._check_write(key)
        encoded = encode_value(value, self.contract.schema_for(key))
        screen_state(self.namespace, key, value)  # no PHI on chain, whatever the contract
        self._writes[key] = encoded

    def delete(self, key: str) -> None:
        self._check_write(key)
        self._writes[key] = None

    def _check_write(self, key: str) -> None:
        if self.read_only:
            raise ContractError("a query cannot write state")
        check_key(key)
        self.contract.schema_for(key)

    def _range_raw(
        self, namespace: str, start: str, end: str, limit: int | None
    ) -> list[tuple[str, VersionedValue]]:
        committed = self.state.range(namespace, start, end, limit)
        scanned_end = end
        if limit is not None and committed and len(committed) == limit:
            scanned_end = committed[-1][0] + "\x00"  # only the scanned part is phantom-checked
        self._ranges.setdefault(namespace, []).append(
            RangeRead(start, scanned_end, [KVRead(k, vv.version) for k, vv in committed])
        )
        return committed

    def range(self, start: str, end: str, limit: int | None = None) -> list[tuple[str, Any]]:
        committed = self._range_raw(self.namespace, start, end, limit)
        merged: dict[str, bytes | None] = {k: vv.value for k, vv in committed}
        for key, raw in self._writes.items():
            if key >= start and (not end or key < end):
                merged[key] = raw
        items = sorted((k, v) for k, v in merged.items() if v is not None)
        if limit is not None:
            items = items[:limit]
        return [(k, decode_value(v, self.contract.schema_for(k))) for k, v in items]

    def history(self, key: str) -> list[tuple[Version, Any | None]]:
        if not self.read_only:
            raise ContractError("history is available to queries only (it is not MVCC-checked)")
        check_key(key)
        schema = self.contract.schema_for(key)
        return [
            (h.version, None if h.value is None else decode_value(h.value, schema))
            for h in self.state.history(self.namespace, key)
        ]

    def emit(self, name: str, payload: Mapping[str, Any]) -> None:
        if len(self._events) >= MAX_EVENTS:
            raise ContractError(f"a transaction may emit at most {MAX_EVENTS} events")
        if not isinstance(name, str) or not name:
            raise InvalidInput("an event needs a name")
        screen_event(self.namespace, name, payload)
        self._events.append(Event(name, to_plain(dict(payload))))

    def read_namespace(self, namespace: str, key: str) -> bytes | None:
        check_key(key)
        return self._read_raw(namespace, key)

    def range_namespace(self, namespace: str, start: str, end: str) -> list[tuple[str, bytes]]:
        if namespace == self.namespace:
            raise ContractError("use range() for the contract's own namespace")
        return [(k, vv.value) for k, vv in self._range_raw(namespace, start, end, None)]

    # -- results ----------------------------------------------------------------------------
    def rwsets(self) -> list[NsRWSet]:
        by_ns: dict[str, list[KVRead]] = {}
        for (ns, key), version in sorted(self._reads.items()):
            by_ns.setdefault(ns, []).append(KVRead(key, version))
        namespaces = set(by_ns) | set(self._ranges)
        if self._writes:
            namespaces.add(self.namespace)
        result = []
        for ns in sorted(namespaces):
            own = ns == self.namespace
            result.append(
                NsRWSet(
                    namespace=ns,
                    reads=by_ns.get(ns, []),
                    ranges=list(self._ranges.get(ns, [])),
                    writes=[KVWrite(k, v) for k, v in sorted(self._writes.items())] if own else [],
                )
            )
        return result

    def events(self) -> list[Event]:
        return list(self._events)
