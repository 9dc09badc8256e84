"""How the parser fuzz tests judge one input, and their two budgets.

A parser that takes bytes from outside may *refuse* them only with the package's documented
errors (:class:`careledger.errors.CareLedgerError` and its subclasses: ``EncodingError``,
``InvalidInput``, ``NotAuthenticated``, ``CredentialFormatError``, FHIR errors…) or return a
result that says "invalid". Anything else is a crash; taking longer than :data:`MAX_SECONDS` is a
hang; allocating more than :data:`MAX_ALLOC_BYTES` for one input is unbounded allocation. Each
is a failing test, with the input shrunk by hypothesis.

``FAST`` is the default suite's budget (small, so the suite stays quick on a loaded machine);
``SLOW`` runs under ``pytest -m slow``. Seeds live in ``tests/fuzz/corpus/<parser>/`` (one input
a file, kept in the repository) and every input is also mutated from them.
"""

from __future__ import annotations

import collections
import os
import signal
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from careledger.errors import CareLedgerError

CORPUS = Path(__file__).parent / "corpus"
MAX_SECONDS = 5.0
MAX_ALLOC_BYTES = 64 * 1024 * 1024
DOCUMENTED = (CareLedgerError,)

_COMMON = {
    "deadline": None,
    "database": None,
    "derandomize": False,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}
FAST = settings(max_examples=int(os.environ.get("CARELEDGER_FUZZ_EXAMPLES", "40")), **_COMMON)
SLOW = settings(
    max_examples=int(os.environ.get("CARELEDGER_FUZZ_SLOW_EXAMPLES", "3000")), **_COMMON
)

#: The two budgets as a parameter: ``budget`` runs FAST in the default suite, SLOW under -m slow.
budgets = pytest.mark.parametrize(
    "budget", [pytest.param(FAST, id="fast"), pytest.param(SLOW, id="long", marks=pytest.mark.slow)]
)

#: Cases run per parser in this session (printed in the terminal summary by conftest.py).
CASES: collections.Counter[str] = collections.Counter()


class Hang(Exception):
    """Raised in the fuzzed call by SIGALRM when one input takes longer than MAX_SECONDS."""


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise Hang(f"one input took more than {MAX_SECONDS} s")


def survive(parser: str, target: Callable[[Any], object], data: Any) -> object:
    """Run ``target(data)``; refusal with a documented error is fine, anything else fails."""
    CASES[parser] += 1
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, MAX_SECONDS)
    tracemalloc.start()
    started = time.monotonic()
    try:
        return target(data)
    except DOCUMENTED:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        took = time.monotonic() - started
        assert peak <= MAX_ALLOC_BYTES, f"{parser}: one input allocated {peak} bytes"
        assert took <= MAX_SECONDS, f"{parser}: one input took {took:.1f} s"


def seeds(parser: str) -> list[bytes]:
    """The corpus of ``parser``: every file in ``tests/fuzz/corpus/<parser>/``."""
    folder = CORPUS / parser
    found = [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]
    assert found, f"no seed inputs in {folder}"
    return found


@st.composite
def mutated(draw: st.DrawFn, corpus: Sequence[bytes]) -> bytes:
    """A seed with a few byte-level mutations: flips, inserts, deletes, splices, truncation."""
    data = bytearray(draw(st.sampled_from(list(corpus))))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "splice", "truncate", "byte"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and at < len(data):
            data[at] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0x9F, 0xBF, 0xFF, 0x1B, 0x5B]))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "splice":
            other = draw(st.sampled_from(list(corpus)))
            data[at:] = other[draw(st.integers(0, len(other))) :]
        elif op == "truncate":
            del data[at:]
    return bytes(data)


def inputs(parser: str, extra: st.SearchStrategy[bytes] | None = None) -> st.SearchStrategy[bytes]:
    """Seeds as they are, mutated seeds, random bytes, and ``extra`` (parser-specific)."""
    corpus = seeds(parser)
    parts = [st.sampled_from(corpus), mutated(corpus), st.binary(max_size=512)]
    if extra is not None:
        parts.append(extra)
    return st.one_of(parts)


def fuzz(
    budget: settings,
    parser: str,
    target: Callable[[Any], object],
    strategy: st.SearchStrategy[Any],
    *,
    regressions: Sequence[Any] = (),
    with_seeds: bool = True,
) -> None:
    """Run ``target`` on ``budget`` examples from ``strategy``, every seed (``with_seeds``: when
    ``target`` takes the corpus files as they are) and ``regressions`` first (each an input that
    once crashed, hung or allocated without bound)."""

    @budget
    @given(strategy)
    def run(data: Any) -> None:
        survive(parser, target, data)

    for data in regressions:
        run = example(data)(run)
    for data in seeds(parser) if with_seeds else []:
        survive(parser, target, data)
    run()


def text_seeds(parser: str) -> Iterator[str]:
    for raw in seeds(parser):
        yield raw.decode("utf-8", errors="replace")
