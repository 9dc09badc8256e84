"""The FHIR R4 server each organisation runs: REST API, interactions, search and Bundles over an
encrypted store. It knows nothing of the ledger: the longitudinal record
(:mod:`careledger.longitudinal`) attaches through the hooks in :mod:`careledger.fhir.base`
(listeners, access policy). See docs/fhir.md.

Modules: ``api`` (routes), ``service`` (interactions), ``bundles`` (transaction / batch),
``resources`` (validation, patient, labels), ``searchparams`` and ``query`` (search),
``base`` (protocols), ``errors`` and ``outcome`` (OperationOutcome), ``capability``; the stores
live in :mod:`careledger.fhir.store`.
"""
