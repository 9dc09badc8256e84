"""Coverage-guided fuzzing of one parser with atheris (libFuzzer for Python).

Each ``fuzz_<parser>.py`` beside this file calls :func:`main` with its parser's name (a key of
``tests.fuzz.targets.TARGETS``). Run from the repository root, new inputs into a scratch
directory first, the repository's seeds second (libFuzzer writes only to the first)::

    pip install -e '.[dev,fuzz]'
    .venv/bin/python tests/fuzz/atheris/fuzz_envelope.py /tmp/envelope-new \\
        tests/fuzz/corpus/envelope -max_total_time=60 -rss_limit_mb=1024 -timeout=5

A crash (an exception that is not a CareLedger error), a timeout (``-timeout``, seconds per
input) or memory over ``-rss_limit_mb`` stops the run and writes the input to ``crash-*``:
add it to ``tests/fuzz/corpus/<parser>/`` and as an ``@example`` regression of the parser's
hypothesis test.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def main(parser: str) -> None:
    sys.path.insert(0, str(ROOT))
    import atheris

    with atheris.instrument_imports(include=["careledger"]):
        from careledger.errors import CareLedgerError
        from tests.fuzz.targets import TARGETS

    target = TARGETS[parser]

    def one_input(data: bytes) -> None:
        with contextlib.suppress(CareLedgerError):  # a documented refusal
            target(data)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
