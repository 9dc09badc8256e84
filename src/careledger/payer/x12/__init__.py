"""X12 5010 for the payer workflows: read, check, acknowledge, map and write (docs/x12.md).

Modules, one concept each:

* :mod:`~careledger.payer.x12.tokens` — segments from a byte stream, separators from the ISA,
  size/text/terminator guards.
* :mod:`~careledger.payer.x12.envelope` — ISA/IEA, GS/GE, ST/SE as nested streams, with the
  count, control-number and version checks a 999 reports.
* :mod:`~careledger.payer.x12.ack999` — the 999 for any received interchange.
* :mod:`~careledger.payer.x12.claim837` (+ ``claim837_rules``, ``claim837_map``) — 837P/837I
  structure checks and the canonical claim; :mod:`~careledger.payer.x12.offchain` — the PHI
  and names kept off chain; :mod:`~careledger.payer.x12.inbound` — the two-pass receive.
* :mod:`~careledger.payer.x12.status277` — 277CA; :mod:`~careledger.payer.x12.remit835` — 835;
  :mod:`~careledger.payer.x12.emit837` — 837 re-emitted; :mod:`~careledger.payer.x12.eligibility`
  — 270 in, 271 out.
* :mod:`~careledger.payer.x12.writer` — deterministic outbound interchanges;
  :mod:`~careledger.payer.x12.elements` — dates, amounts, quantities.
* :mod:`~careledger.payer.x12.pyx12_check` — pyx12's verdict (tests and benchmark only);
  :mod:`~careledger.payer.x12.bench` — :func:`~careledger.payer.x12.bench.run_x12`.
* :mod:`~careledger.payer.x12.errors` — :class:`X12Error`, the only exception raised on purpose.
"""
