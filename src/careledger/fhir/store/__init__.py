"""Where FHIR resources are kept: encrypted resource versions and their search index.

``sqlite`` (embedded, ``":memory:"`` for tests) and ``postgres`` implement
:class:`careledger.fhir.base.ResourceStore`; ``common`` is what both share (head and deletion
checks, history filters); ``envelope`` is the encryption: a data key per resource wrapped by a key
per patient, so erasure is destroying the patient key (crypto-shredding).
"""
