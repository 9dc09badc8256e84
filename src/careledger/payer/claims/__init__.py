"""Claims intake and remittance at a payer's node: FHIR claims (:mod:`.fhir`), the node's claim
archive (:mod:`.archive`), the 835 and EOBs from the chain (:mod:`.remittance`) and the routes
(:mod:`.routes`). The claims desk itself is :mod:`careledger.payer.claims_service`."""
