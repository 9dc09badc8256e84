"""FHIR R4 interoperability, off-chain half: each organisation's FHIR REST API over an encrypted
store with crypto-shredding, and the hooks (:mod:`careledger.fhir.base`) through which the
record locator, consent and audit on the ledger attach. See docs/fhir.md.

Modules: ``api`` (routes), ``service`` (interactions), ``bundles`` (transaction / batch),
``resources`` (validation, patient, labels), ``searchparams`` and ``query`` (search),
``base`` (protocols), ``sqlite`` (store), ``envelope`` (encryption), ``errors`` and ``outcome``
(OperationOutcome), ``capability``, ``synthetic`` (test data), ``bench``.
"""
