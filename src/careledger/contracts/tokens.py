"""Care-point accounts: mint and transfer, with conservation of the total.

The ledger's sample read-modify-write contract (``careledger bench ledger`` transfers between
random accounts) and the base the incentives capability builds on. Points are integers of the
smallest unit; an account belongs to an organisation and only that organisation's members move
points out of it. Account ids are opaque handles, never names.
"""

from __future__ import annotations

import msgspec

from careledger.contracts.base import Contract, Stub, invoke, query
from careledger.errors import ContractError, InvalidInput
from careledger.identity.msp import Role

MAX_AMOUNT = 10**15


class Account(msgspec.Struct, frozen=True):
    owner_org: str
    balance: int


def _check_id(account: str) -> None:
    if not account or len(account) > 64 or not account.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput(f"account id {account!r} must be 1-64 letters, digits, '-' or '_'")


def _check_amount(amount: int) -> None:
    if not 0 < amount <= MAX_AMOUNT:
        raise InvalidInput(f"amount must be between 1 and {MAX_AMOUNT}")


class Tokens(Contract):
    name = "tokens"
    version = "1.0"
    schemas = {"acct": Account}

    @invoke
    def open(self, stub: Stub, account: str) -> None:
        _check_id(account)
        if stub.get(f"acct/{account}") is not None:
            raise ContractError(f"account {account} already exists")
        stub.put(f"acct/{account}", Account(stub.creator.org, 0))

    @invoke
    def mint(self, stub: Stub, account: str, amount: int) -> int:
        if stub.creator.role != Role.ADMIN:
            raise ContractError("only an organisation admin may mint points")
        _check_id(account)
        _check_amount(amount)
        current = stub.get(f"acct/{account}") or Account(stub.creator.org, 0)
        stub.put(f"acct/{account}", Account(current.owner_org, current.balance + amount))
        return int(current.balance + amount)

    @invoke
    def transfer(self, stub: Stub, source: str, target: str, amount: int) -> int:
        _check_amount(amount)
        if source == target:
            raise InvalidInput("source and target must differ")
        src = stub.get(f"acct/{source}")
        dst = stub.get(f"acct/{target}")
        if src is None or dst is None:
            raise ContractError(f"unknown account {source if src is None else target}")
        if src.owner_org != stub.creator.org:
            raise ContractError(f"{stub.creator.org} may not move points out of {source}")
        if src.balance < amount:
            raise ContractError(f"account {source} holds {src.balance}, less than {amount}")
        stub.put(f"acct/{source}", Account(src.owner_org, src.balance - amount))
        stub.put(f"acct/{target}", Account(dst.owner_org, dst.balance + amount))
        stub.emit("tokens.transfer", {"source": source, "target": target, "amount": amount})
        return int(src.balance - amount)

    @query
    def balance(self, stub: Stub, account: str) -> int:
        acct = stub.get(f"acct/{account}")
        if acct is None:
            raise ContractError(f"unknown account {account}")
        return int(acct.balance)

    @query
    def supply(self, stub: Stub) -> int:
        """Sum of all balances (no global counter: it would serialise every mint)."""
        return sum(int(acct.balance) for _, acct in stub.range("acct/", "acct0"))
