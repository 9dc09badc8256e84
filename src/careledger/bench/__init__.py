"""Every ``careledger bench`` workload, one report shape (:mod:`careledger.bench.report`).

``ledger`` (embedded consortium, transfers), ``network`` (a ``network up`` network),
``fhir`` (FHIR ingest with locator transactions and ``$everything``), ``fhir_ingest`` (the
store's ingest rate alone), ``credentials`` (issue and verify per format). Each prints, beside its
figure, a baseline measured in the same run. See docs/benchmarks.md.
"""
