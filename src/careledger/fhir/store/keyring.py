"""Master key rotation for the FHIR stores: a ring of the current master key and the ones it
replaces, reloadable while the node serves, and the online re-wrap of patient keys.

The ring comes from a key file (``[fhir] master_key_file``, mode 0600: one base64url key per
line, the current one first) or from the environment (``CARELEDGER_FHIR_MASTER_KEY`` and, while
rotating, ``CARELEDGER_FHIR_MASTER_KEY_PREVIOUS``, comma-separated). Rotation without downtime
(docs/security.md): put the new key on the file's first line, keep the old one below it, send
the node SIGHUP (:meth:`MasterKeyRing.reload`), run ``careledger node rewrap-keys``, then drop
the old line and SIGHUP again.

New patient keys are wrapped by the current key; a patient key wrapped by any key of the ring
unwraps (each wrapped key records its master key's id, ``patient_keys.master_key_id``).
:func:`rewrap` moves patient keys onto the current key in small batches, each its own short
transaction, so reads and writes interleave with it. Only the wrapping changes: per-patient
keys, data keys and ciphertexts stay as they are, and an erased patient stays erased.

Not for: the envelope itself (:mod:`careledger.fhir.store.envelope`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from careledger.crypto.keyfiles import read_secret
from careledger.errors import CryptoError
from careledger.fhir.store.envelope import MASTER_KEY_ENV, MasterKey

PREVIOUS_SUFFIX = "_PREVIOUS"
DEFAULT_BATCH = 200


class MasterKeyRing:
    """The current master key (wraps) and older ones (unwrap only); duck-compatible with
    :class:`MasterKey` for the stores, and reloadable in place from where it was read."""

    __slots__ = ("_source", "_state")

    def __init__(
        self,
        current: MasterKey,
        previous: Sequence[MasterKey] = (),
        *,
        source: Callable[[], MasterKeyRing] | None = None,
    ) -> None:
        # One tuple, swapped in one assignment: a reader never sees a half-reloaded ring.
        self._state = (current, {k.key_id: k for k in (*previous, current)})
        self._source = source

    @property
    def current(self) -> MasterKey:
        return self._state[0]

    @property
    def key_id(self) -> str:
        return self._state[0].key_id

    @property
    def key_ids(self) -> list[str]:
        """Every key id of the ring, the current one first."""
        current, by_id = self._state
        return [current.key_id, *(i for i in by_id if i != current.key_id)]

    @classmethod
    def from_env(cls, name: str = MASTER_KEY_ENV) -> MasterKeyRing:
        """The current key from ``name``, older ones from ``name + "_PREVIOUS"`` (comma
        separated base64url, optional)."""
        previous_text = os.environ.get(name + PREVIOUS_SUFFIX, "")
        previous = [MasterKey.from_text(t) for t in previous_text.split(",") if t.strip()]
        return cls(MasterKey.from_env(name), previous, source=lambda: cls.from_env(name))

    @classmethod
    def from_file(cls, path: Path) -> MasterKeyRing:
        """The keys in ``path`` (mode 0600; one base64url key per line, the current one
        first; blank lines and ``#`` comments skipped)."""
        try:
            text = read_secret(path).decode()
        except (OSError, UnicodeDecodeError) as exc:
            raise CryptoError(f"cannot read the FHIR master key file {path}: {exc}") from exc
        lines = [line.strip() for line in text.splitlines()]
        keys = [MasterKey.from_text(line) for line in lines if line and not line.startswith("#")]
        if not keys:
            raise CryptoError(f"{path} holds no FHIR master key")
        return cls(keys[0], keys[1:], source=lambda: cls.from_file(path))

    @classmethod
    def load(cls, key_file: str, env: str = MASTER_KEY_ENV) -> MasterKeyRing:
        """From ``key_file`` when given, else from the environment variable ``env``."""
        return cls.from_file(Path(key_file)) if key_file else cls.from_env(env)

    def reload(self) -> MasterKeyRing:
        """Read the keys again from where they came from and use them from now on (a failure
        keeps the keys in use and raises)."""
        if self._source is None:
            raise CryptoError("this master key ring has no source to reload from")
        self._state = self._source()._state
        return self

    def wrap_patient_key(self, patient: str, key: bytes) -> bytes:
        return self._state[0].wrap_patient_key(patient, key)

    def unwrap_patient_key(self, patient: str, blob: bytes, key_id: str | None = None) -> bytes:
        """With ``key_id`` (the row's ``master_key_id``) that key only; else each key, current
        first (a tag check fails at once for a wrong key)."""
        current, by_id = self._state
        if key_id is not None:
            key = by_id.get(key_id)
            if key is None:
                raise CryptoError(
                    f"the key of {patient!r} is wrapped by master key {key_id}, not in the ring "
                    f"({', '.join(self.key_ids)}): add it below the current key"
                )
            return key.unwrap_patient_key(patient, blob)
        for candidate in (current, *(k for i, k in by_id.items() if i != current.key_id)):
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
