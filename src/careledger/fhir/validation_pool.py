"""Validation of a Bundle's resources in worker processes.

Checking a resource against the ``fhir.resources`` models is the largest share of a FHIR
write's CPU (pure Python under the interpreter lock). A :class:`ValidationPool` runs
:func:`careledger.fhir.resources.validate` for many resources in ``spawn`` worker processes, so
on a machine with a second core it runs beside the process's other work (the ledger's peers, the
event loop) instead of taking turns with it. The check is the same function with the same
arguments; its errors come back as plain data and are raised again in the caller as the same
``InvalidInput`` / ``InvalidResource`` (message and issues). If the pool fails (a worker died),
the resources are validated in the caller instead: a write is never accepted unchecked.

Not for: single-resource requests (the round trip costs more than the check).
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from careledger.errors import CareLedgerError, InvalidInput
from careledger.fhir.errors import InvalidResource, Issue
from careledger.fhir.resources import SUPPORTED_TYPES, validate

log = logging.getLogger("careledger.fhir")

Item = tuple[Any, str, str]
"""(decoded resource, the type the request names, the issue path prefix)."""
Outcome = tuple[str, str, list[tuple[str, str, str | None, str]]] | None
"""None (valid), or (``input`` | ``resource``, message, issues as tuples)."""


def _outcome(item: Item) -> Outcome:
    try:
        validate(*item)
    except InvalidResource as exc:
        issues = [(i.code, i.diagnostics, i.expression, i.severity) for i in exc.issues()]
        return ("resource", str(exc), issues)
    except InvalidInput as exc:
        return ("input", str(exc), [])
    return None


def check_items(items: Sequence[Item]) -> list[Outcome]:
    """What :func:`validate` says of each item (the worker's function)."""
    return [_outcome(item) for item in items]


def _load_models() -> None:
    """Import every supported type's model once, in each worker at start."""
    from fhir.resources.R4B import get_fhir_model_class

    for name in SUPPORTED_TYPES:
        get_fhir_model_class(name)


def error_of(outcome: Outcome) -> CareLedgerError | None:
    """The exception ``validate`` raised in the worker, made again here."""
    if outcome is None:
        return None
    kind, message, issues = outcome
    if kind == "input":
        return InvalidInput(message)
    return InvalidResource(message, [Issue(*issue) for issue in issues])


class ValidationPool:
    """``workers`` spawn processes validating lists of resources (:meth:`errors`)."""

    def __init__(self, workers: int = 1, *, min_items: int = 8) -> None:
        if workers < 1:
            raise ValueError("a validation pool needs at least one worker")
        self.min_items = min_items
        self._pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_load_models
        )
        self._workers = workers

    def warm_up(self) -> None:
        """Start the workers and load the models now (not on the first Bundle)."""
        list(self._pool.map(check_items, [[]] * self._workers))

    def errors(self, items: Sequence[Item]) -> list[CareLedgerError | None]:
        """Each item's validation error (None: valid), in order. Fewer than ``min_items``, or
        a pool that fails, are validated here."""
        if len(items) < self.min_items:
            return [error_of(o) for o in check_items(items)]
        size = -(-len(items) // self._workers)
        chunks = [list(items[i : i + size]) for i in range(0, len(items), size)]
        try:
            outcomes = [o for chunk in self._pool.map(check_items, chunks) for o in chunk]
        except Exception:  # a broken pool (a worker was killed): check here instead
            log.exception("the FHIR validation pool failed; validating in the caller")
            outcomes = check_items(items)
        return [error_of(o) for o in outcomes]

    def pids(self) -> list[int]:
        """The worker processes' ids (for CPU accounting)."""
        return list(self._pool._processes or {})

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
