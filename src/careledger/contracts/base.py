"""What a contract is: a Python class with typed invoke and query functions.

A contract declares, for each key prefix it writes, the ``msgspec.Struct`` type of the values
(``schemas``), so a contract cannot put free-form text in the world state by accident; it gets a
:class:`Stub` for state access. Functions must be deterministic: everything they may depend on
beyond state — the creator, the transaction id, the timestamp — comes from the stub, which takes
it from the signed proposal. Endorsers' results must match byte for byte, which is how
non-determinism is caught.

Example::

    class Account(msgspec.Struct):
        owner: str
        balance: int

    class Tokens(Contract):
        name = "tokens"
        schemas = {"acct": Account}

        @invoke
        def mint(self, stub: Stub, account: str, amount: int) -> int: ...
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

import msgspec

from careledger.errors import ContractError, InvalidInput
from careledger.identity.msp import MemberCert

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound=msgspec.Struct)

MAX_KEY_LENGTH = 256


class Stub(Protocol):
    """State and transaction context handed to a contract function."""

    namespace: str
    tx_id: str
    timestamp: int
    """Milliseconds since the epoch, from the signed proposal (never the wall clock)."""
    creator: MemberCert

    def get(self, key: str) -> Any | None:
        """The value at ``key`` (typed by the schema of its prefix), or None."""
        ...

    def put(self, key: str, value: msgspec.Struct) -> None: ...

    def delete(self, key: str) -> None: ...

    def range(self, start: str, end: str, limit: int | None = None) -> list[tuple[str, Any]]:
        """Keys in ``[start, end)`` (``end == ""``: unbounded) with their values, in key order."""
        ...

    def history(self, key: str) -> list[tuple[tuple[int, int], Any | None]]:
        """(version, value-or-None-if-deleted) of every committed write; queries only."""
        ...

    def emit(self, name: str, payload: Mapping[str, Any]) -> None:
        """Attach an event to the transaction, delivered when it commits as valid."""
        ...

    def read_namespace(self, namespace: str, key: str) -> bytes | None:
        """Raw committed bytes of a key in another namespace (recorded in the read set)."""
        ...

    def range_namespace(self, namespace: str, start: str, end: str) -> list[tuple[str, bytes]]:
        """Raw committed keys and bytes of another namespace in ``[start, end)``, recorded as a
        range read: a key added or removed there before this commits is a phantom-read
        conflict."""
        ...


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    kind: str  # "invoke" | "query"
    fn: Callable[..., Any]
    params: tuple[tuple[str, Any], ...]


def invoke(fn: F) -> F:
    """Mark a contract method as a transaction function (writes go through ordering)."""
    fn.__careledger_kind__ = "invoke"  # type: ignore[attr-defined]
    return fn


def query(fn: F) -> F:
    """Mark a contract method as a read-only query (evaluated on one peer, never ordered)."""
    fn.__careledger_kind__ = "query"  # type: ignore[attr-defined]
    return fn


class Contract:
    """Base class of every contract, system or user."""

    name: ClassVar[str]
    version: ClassVar[str] = "1.0"
    schemas: ClassVar[Mapping[str, type[msgspec.Struct]]] = {}
    functions: ClassVar[dict[str, FunctionSpec]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        specs: dict[str, FunctionSpec] = {}
        for attr, fn in inspect.getmembers(cls, inspect.isfunction):
            kind = getattr(fn, "__careledger_kind__", None)
            if kind is None:
                continue
            hints = typing.get_type_hints(fn)
            names = list(inspect.signature(fn).parameters)[2:]  # self, stub
            specs[attr] = FunctionSpec(attr, kind, fn, tuple((n, hints[n]) for n in names))
        cls.functions = specs

    def function(self, name: str, kind: str) -> FunctionSpec:
        spec = self.functions.get(name) if isinstance(name, str) else None
        if spec is None:
            raise ContractError(f"contract {self.name!r} has no function {name!r}")
        if kind == "invoke" and spec.kind != "invoke":
            raise ContractError(f"{self.name}.{name} is a query and cannot be submitted")
        return spec

    def call(self, stub: Stub, name: str, args: list[Any], kind: str) -> Any:
        """Convert ``args`` to the declared parameter types and run the function."""
        spec = self.function(name, kind)
        if not isinstance(args, list) or len(args) != len(spec.params):
            count = len(args) if isinstance(args, list) else "non-list"
            raise InvalidInput(
                f"{self.name}.{name} takes {len(spec.params)} arguments "
                f"({', '.join(p for p, _ in spec.params)}), got {count}"
            )
        converted = []
        for (pname, ptype), value in zip(spec.params, args, strict=True):
            try:
                converted.append(msgspec.convert(value, ptype, strict=True))
            except msgspec.ValidationError as exc:
                raise InvalidInput(f"{self.name}.{name}: argument {pname!r}: {exc}") from exc
        try:
            return spec.fn(self, stub, *converted)
        except (ContractError, InvalidInput):
            raise
        except Exception as exc:
            raise ContractError(f"{self.name}.{name} failed: {exc!r}") from exc

    @classmethod
    def schema_for(cls, key: str) -> type[msgspec.Struct]:
        prefix = key.split("/", 1)[0]
        kind = cls.schemas.get(prefix)
        if kind is None:
            raise ContractError(
                f"contract {cls.name!r} declares no schema for key prefix {prefix!r}"
            )
        return kind


def to_plain(value: Any) -> Any:
    """A function result or event payload as canonical-encodable builtins."""
    return msgspec.to_builtins(value, builtin_types=(bytes,))
