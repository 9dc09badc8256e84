"""The longitudinal record: the bridge between each organisation's FHIR server and the ledger.

``ledger`` (:class:`ProviderLedger`) writes record-locator entries for every committed FHIR change
and enforces on-ledger consent before anything is served to another organisation; ``outbox``
makes those locator writes survive crashes; ``session`` keeps the ledger calls of one request;
``everything`` assembles a patient's record from every holder (``$everything``) and verifies each
resource against its on-ledger hash; ``accounting`` is the HIPAA accounting of disclosures;
``routes`` adds enrolment and ``$everything`` to a node's HTTP app.

Depends on :mod:`careledger.fhir` and the ledger packages; :mod:`careledger.fhir` never imports it.
See docs/interoperability.md.
"""
