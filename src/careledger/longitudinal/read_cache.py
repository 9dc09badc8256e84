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

:class:`KnownResources` maps (SHA-256 of a resource's exact bytes, salt) to what those determine:
type, id, version, locator ref, salted content hash and clinical date — the same bytes and salt
always give the same, so a hit needs no JSON parse and no hashing beyond the one SHA-256 that
identifies the bytes. Verification itself — comparing version and salted hash with the resource's
locator entry, as the ledger has it now — is done for every resource of every request.

Not for: anything a holder decides (consent, audit): holders answer every request afresh.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LOCATOR_EVENTS = ("locator.registered", "locator.erased")
MAX_ANSWERS = 256
MAX_FACTS = 200_000


class LocatorEntries:
    """``locator.entries`` answers, dropped at the next commit of a locator change."""

    def __init__(self, peer: Any) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._answers: dict[tuple[str, tuple[str, ...], int], tuple[int, list[Any]]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        subscribe = getattr(peer, "subscribe", None)
        if callable(subscribe):
            me = weakref.ref(self)  # the peer's listener list does not keep this cache alive

            def committed(event: Any) -> None:
                cache = me()
                if cache is not None:
                    cache._committed(event)

            self._unsubscribe = subscribe(committed)

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


@dataclass(slots=True)
class ResourceFacts:
    """What the exact bytes of one resource and a holder's salt determine: its type, id,
    version and ``lastUpdated``, its locator ``ref`` and salted content hash, and (once
    asked) its clinical date."""

    rtype: str
    rid: str
    version: str
    last_updated: str
    ref: str
    content_hash: str
    date: str | None = None


class KnownResources:
    """:class:`ResourceFacts` by (SHA-256 of the resource's bytes, salt)."""

    def __init__(self) -> None:
        self._facts: dict[tuple[bytes, bytes], ResourceFacts] = {}

    def get(self, digest: bytes, salt: bytes) -> ResourceFacts | None:
        return self._facts.get((digest, salt))

    def put(self, digest: bytes, salt: bytes, facts: ResourceFacts) -> None:
        if len(self._facts) >= MAX_FACTS:
            self._facts.clear()
        self._facts[(digest, salt)] = facts
