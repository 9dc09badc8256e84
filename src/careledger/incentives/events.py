"""Incentive events for UIs: ``campaign_created``, ``reward_awarded``,
``reward_rejected{code}``, ``redeemed``, ``expired``, ``clawed_back``, ``frozen``.

Two sources feed one :class:`IncentiveEvents` log: the ``incentives.*`` events the contract
attaches to committed transactions (read from a peer's commit events), and refusals of evidence
made before anything is submitted (which never reach the chain: there is nothing to record but
the refusal, and its code is enough).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from careledger.contracts.incentives import NAMESPACE
from careledger.node.peer import CommitEvent, Peer

PREFIX = f"{NAMESPACE}."


@dataclass(frozen=True, slots=True)
class IncentiveEvent:
    name: str
    """``reward_awarded``, ``reward_rejected``, … (without the contract prefix)."""
    payload: Mapping[str, Any]
    tx_id: str = ""
    block: int | None = None
    """The block that recorded it; None for refusals made before submission."""

    @property
    def code(self) -> str | None:
        code = self.payload.get("code")
        return code if isinstance(code, str) else None


@dataclass
class IncentiveEvents:
    """A bounded log of incentive events with listeners."""

    limit: int = 10_000
    _log: deque[IncentiveEvent] = field(init=False)
    _listeners: list[Callable[[IncentiveEvent], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._log = deque(maxlen=self.limit)

    def emit(self, event: IncentiveEvent) -> None:
        self._log.append(event)
        for listener in list(self._listeners):
            listener(event)

    def listen(self, listener: Callable[[IncentiveEvent], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def recent(self, campaign: str | None = None, name: str | None = None) -> list[IncentiveEvent]:
        return [
            e
            for e in self._log
            if (campaign is None or e.payload.get("campaign") == campaign)
            and (name is None or e.name == name)
        ]

    def on_commit(self, commit: CommitEvent) -> None:
        """Peer listener: the contract's events of a committed block."""
        valid = {tx for tx, code in commit.tx_codes if code.valid}
        for tx_id, name, payload in commit.events:
            if name.startswith(PREFIX) and tx_id in valid:
                self.emit(IncentiveEvent(name[len(PREFIX) :], payload, tx_id, commit.block))

    def follow(self, peer: Peer) -> Callable[[], None]:
        """Feed this log from ``peer``'s commits; returns the unsubscribe function."""
        return peer.subscribe(self.on_commit)
