"""X12 5010 for the payer workflows: read, check, acknowledge, map and write.

Modules, one concept each:

* :mod:`~careledger.payer.x12.tokens` — segments from a byte stream, separators from the ISA,
  size/text/terminator guards.
* :mod:`~careledger.payer.x12.envelope` — ISA/IEA, GS/GE, ST/SE as nested streams, with the
  count, control-number and version checks a 999 reports.
* :mod:`~careledger.payer.x12.ack999` — the 999 for any received interchange.
* :mod:`~careledger.payer.x12.writer` — deterministic outbound interchanges.
* :mod:`~careledger.payer.x12.errors` — :class:`X12Error`, the only exception raised on purpose.
"""
