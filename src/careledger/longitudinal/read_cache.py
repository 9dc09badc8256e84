"""What ``$everything`` may remember between requests at the requesting organisation, and why it
stays correct: the ledger's locator entries until the locator changes, and each verified
resource's clinical date by the digest of its exact bytes.

:class:`LocatorEntries` keeps the ``locator.entries`` answer per (handle, types, since) and
forgets everything when a block carrying a locator change commits at this organisation's peer.
Every function of the ``locator`` contract that writes (``register``, ``erase``) emits a
``locator.*`` event, and a peer tells its listeners about every committed block's events
(:meth:`careledger.node.peer.Peer.subscribe`), so an entry is never served after the state it
came from changed. A generation counter closes the race with a commit during a query: an answer
is kept only if no locator change committed since the query began.

:class:`ResourceDates` maps the SHA-256 of a resource's bytes to its clinical date: the same
bytes always have the same date, so a hit needs no JSON parse. Verification itself — the
resource's salted hash against its locator entry — is done on every request.

Not for: anything a holder decides (consent, audit): holders answer every request afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

LOCATOR_EVENTS = ("locator.registered", "locator.erased")
MAX_ANSWERS = 256
MAX_DATES = 200_000


class LocatorEntries:
    """``locator.entries`` answers, dropped at the next commit of a locator change."""

    def __init__(self, peer: Any) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._answers: dict[tuple[str, tuple[str, ...], int], tuple[int, list[Any]]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        subscribe = getattr(peer, "subscribe", None)
        if callable(subscribe):
            self._unsubscribe = subscribe(self._committed)

    @property
    def active(self) -> bool:
        """Whether the peer tells this cache about commits (otherwise nothing is kept)."""
        return self._unsubscribe is not None

    def _committed(self, event: Any) -> None:
        if any(name in LOCATOR_EVENTS for _tx, name, _payload in event.events):
            with self._lock:
                self._generation += 1
                self._answers.clear()

    def get(
        self, handle: str, types: list[str], since_ms: int, query: Callable[[], list[Any]]
    ) -> list[Any]:
        """The entries for (``handle``, ``types``, ``since_ms``): kept, or ``query()``."""
        key = (handle, tuple(types), since_ms)
        with self._lock:
            generation = self._generation
            kept = self._answers.get(key)
        if kept is not None and kept[0] == generation:
            return kept[1]
        found = query()
        if self.active:
            with self._lock:
                if self._generation == generation:
                    if len(self._answers) >= MAX_ANSWERS:
                        self._answers.clear()
                    self._answers[key] = (generation, found)
        return found

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


class ResourceDates:
    """Clinical dates by the SHA-256 (hex) of the resource's exact bytes."""

    def __init__(self) -> None:
        self._dates: dict[str, str] = {}

    def get(self, digest: str) -> str | None:
        return self._dates.get(digest)

    def put(self, digest: str, date: str) -> None:
        if len(self._dates) >= MAX_DATES:
            self._dates.clear()
        self._dates[digest] = date
