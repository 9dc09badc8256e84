"""Master key rotation for the FHIR stores: a ring of the current master key and the ones it
replaces, and the online re-wrap of patient keys onto the current one.

Rotation, with the node serving throughout the re-wrap (docs/security.md)::

    CARELEDGER_FHIR_MASTER_KEY=<new>  CARELEDGER_FHIR_MASTER_KEY_PREVIOUS=<old>[,<older>]

New patient keys are wrapped by the current key; a patient key wrapped by any key of the ring
unwraps (each wrapped key records its master key's id, ``patient_keys.master_key_id``).
:func:`rewrap` moves patient keys onto the current key in small batches, each its own short
transaction, so reads and writes interleave with it; once it reports none left, the previous
keys can be dropped. Only the wrapping changes: per-patient keys, data keys and ciphertexts stay
as they are, and an erased patient (no wrapped key) stays erased.

Not for: the envelope itself (:mod:`careledger.fhir.store.envelope`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from careledger.errors import CryptoError
from careledger.fhir.store.envelope import MASTER_KEY_ENV, MasterKey

PREVIOUS_SUFFIX = "_PREVIOUS"
DEFAULT_BATCH = 200


class MasterKeyRing:
    """The current master key (wraps) and older ones (unwrap only); duck-compatible with
    :class:`MasterKey` for the stores."""

    __slots__ = ("_by_id", "current")

    def __init__(self, current: MasterKey, previous: Sequence[MasterKey] = ()) -> None:
        self.current = current
        self._by_id = {k.key_id: k for k in (*previous, current)}

    @property
    def key_id(self) -> str:
        return self.current.key_id

    @property
    def key_ids(self) -> list[str]:
        """Every key id of the ring, the current one first."""
        return [self.key_id, *(i for i in self._by_id if i != self.key_id)]

    @classmethod
    def from_env(cls, name: str = MASTER_KEY_ENV) -> MasterKeyRing:
        """The current key from ``name``, older ones from ``name + "_PREVIOUS"`` (comma
        separated base64url, optional)."""
        previous_text = os.environ.get(name + PREVIOUS_SUFFIX, "")
        previous = [MasterKey.from_text(t) for t in previous_text.split(",") if t.strip()]
        return cls(MasterKey.from_env(name), previous)

    def wrap_patient_key(self, patient: str, key: bytes) -> bytes:
        return self.current.wrap_patient_key(patient, key)

    def unwrap_patient_key(self, patient: str, blob: bytes, key_id: str | None = None) -> bytes:
        """With ``key_id`` (the row's ``master_key_id``) that key only; else each key, current
        first (a tag check fails at once for a wrong key)."""
        if key_id is not None:
            key = self._by_id.get(key_id)
            if key is None:
                raise CryptoError(
                    f"the key of {patient!r} is wrapped by master key {key_id}, not in the ring "
                    f"({', '.join(self.key_ids)}): set it in {MASTER_KEY_ENV}{PREVIOUS_SUFFIX}"
                )
            return key.unwrap_patient_key(patient, blob)
        for candidate in (self._by_id[i] for i in self.key_ids):
            try:
                return candidate.unwrap_patient_key(patient, blob)
            except CryptoError:
                continue
        raise CryptoError(f"the key of {patient!r} does not unwrap with any master key")


class RewrappingStore(Protocol):
    def rewrap_patient_keys(self, limit: int) -> int:
        """Re-wrap up to ``limit`` patient keys not wrapped by the current master key, in one
        transaction; how many it re-wrapped (0: none left)."""
        ...

    def stale_patient_keys(self) -> int:
        """How many live patient keys are wrapped by another key than the current one."""
        ...


@dataclass(frozen=True, slots=True)
class RewrapReport:
    rewrapped: int
    batches: int
    seconds: float
    remaining: int


def rewrap(
    store: RewrappingStore,
    *,
    batch: int = DEFAULT_BATCH,
    pause: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> RewrapReport:
    """Re-wrap every patient key onto the current master key, ``batch`` at a time (``pause``
    seconds between batches leaves the store to the node's own writes)."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    started = time.monotonic()
    total = batches = 0
    while True:
        done = store.rewrap_patient_keys(batch)
        if done == 0:
            break
        total += done
        batches += 1
        if progress is not None:
            progress(total)
        if pause:
            time.sleep(pause)
    seconds = round(time.monotonic() - started, 3)
    return RewrapReport(total, batches, seconds, store.stale_patient_keys())
