"""Validate an X12 document with pyx12, in-process, for tests and the benchmark.

pyx12 (a development dependency) is the independent validator: CareLedger's own checks are not
allowed to grade CareLedger's own output. Its command-line exit code says nothing reliable, so
the verdict is read from its JSON error document: accepted means every functional group and
transaction set has ack code ``A`` and no interchange error; an exception inside pyx12 counts as
a rejection. pyx12 has no maps for 270/271 or 278 (5010): those are checked structurally against
golden files in the tests instead.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Pyx12Verdict:
    accepted: bool
    errors: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def pyx12_validate(data: bytes | str) -> Pyx12Verdict:
    """pyx12's verdict on ``data``; ImportError without pyx12 (``pip install -e .[dev]``)."""
    import pyx12.params
    import pyx12.x12n_document

    text = data.decode("ascii") if isinstance(data, bytes) else data
    # pyx12 logs every finding at ERROR through child loggers; the verdict carries them.
    logger = logging.getLogger("pyx12")
    previous = logger.propagate
    logger.propagate = False
    quiet = logging.NullHandler()
    logger.addHandler(quiet)
    report_io = io.StringIO()
    try:
        pyx12.x12n_document.x12n_document(
            pyx12.params.params(), io.StringIO(text), None, None, None, report_io
        )
        report: dict[str, Any] = json.loads(report_io.getvalue())
    except Exception as exc:  # pyx12 raising is a rejection, with its message kept
        return Pyx12Verdict(False, [f"pyx12 raised {type(exc).__name__}: {exc}"])
    finally:
        logger.removeHandler(quiet)
        logger.propagate = previous
    errors = _errors(report)
    acks = [
        node.get("ack_code")
        for isa in report.get("interchanges", [])
        for gs in isa.get("groups", [])
        for node in [gs, *gs.get("transactions", [])]
    ]
    accepted = bool(acks) and all(ack == "A" for ack in acks) and not errors
    return Pyx12Verdict(accepted, errors, report)


def _errors(report: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def take(node: dict[str, Any], where: str) -> None:
        for err in node.get("errors", []):
            found.append(f"{where}: {err.get('err_cde')} {err.get('err_str')}")

    for isa in report.get("interchanges", []):
        take(isa, "ISA")
        for gs in isa.get("groups", []):
            take(gs, f"GS {gs.get('gs_control_num')}")
            for st in gs.get("transactions", []):
                take(st, f"ST {st.get('trn_set_control_num')}")
                for seg in st.get("segments", []):
                    take(seg, f"{seg.get('seg_id')}#{seg.get('seg_count')}")
                    for ele in seg.get("elements", []):
                        take(ele, f"{seg.get('seg_id')}{ele.get('ele_pos'):02d}")
    return found
