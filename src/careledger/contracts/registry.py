"""Installed contract code, by name and version.

Built-in contracts register through the same :func:`ContractRegistry.register` call as user
contracts; third-party packages can expose contracts under the ``careledger.contracts`` entry
point group. Installing code is not enough to run it: governance must approve a definition
(name, version, endorsement policy) first — see :mod:`careledger.contracts.governance`.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from careledger.contracts.base import Contract
from careledger.errors import UnknownContract


class ContractRegistry:
    def __init__(self) -> None:
        self._code: dict[tuple[str, str], Contract] = {}

    def register(self, cls: type[Contract]) -> type[Contract]:
        self._code[(cls.name, cls.version)] = cls()
        return cls

    def get(self, name: str, version: str) -> Contract:
        contract = self._code.get((name, version))
        if contract is None:
            raise UnknownContract(f"no installed code for contract {name!r} version {version!r}")
        return contract

    def installed(self) -> list[tuple[str, str]]:
        return sorted(self._code)


def default_registry() -> ContractRegistry:
    """Built-in contracts plus any from the ``careledger.contracts`` entry point group."""
    from careledger.contracts.audit import Audit
    from careledger.contracts.consent import Consents
    from careledger.contracts.dids import Dids
    from careledger.contracts.governance import Governance
    from careledger.contracts.incentives import Incentives
    from careledger.contracts.payer.claim_fingerprints import ClaimFingerprints
    from careledger.contracts.payer.claims import Claims
    from careledger.contracts.payer.directory import Directory
    from careledger.contracts.payer.plans import Plans
    from careledger.contracts.payer.prior_auth import PriorAuth
    from careledger.contracts.record_locator import RecordLocator
    from careledger.contracts.status_lists import StatusLists
    from careledger.contracts.tokens import Tokens
    from careledger.contracts.trust_registry import TrustRegistry

    registry = ContractRegistry()
    builtins = (Governance, Tokens, Dids, StatusLists, TrustRegistry)
    health = (RecordLocator, Consents, Audit)
    payer = (Plans, Claims, PriorAuth, Directory, ClaimFingerprints)
    for cls in (*builtins, *health, *payer, Incentives):
        registry.register(cls)
    for ep in entry_points(group="careledger.contracts"):
        registry.register(ep.load())
    return registry
