"""The payer contracts and what runs inside them on every endorser.

``model`` is the canonical claim model (FHIR Claim, 837P, 837I) and the ledger forms of claims,
adjudications and authorizations; ``benefits`` the benefit plans, coverage and accumulators;
``adjudication`` the pure, deterministic adjudication engine. The contracts: ``plans`` (benefit
plans and coverage), ``claims`` (adjudication with accumulators, prior-authorization matching,
coordination of benefits and within-payer duplicates), ``prior_auth`` (Da Vinci PAS decisions and
their clocks) and ``claim_fingerprints`` (cross-payer duplicates through metered OPRF
fingerprints). What happens off chain — X12, PAS Bundles, HTTP routes, the OPRF client and
service — is in :mod:`careledger.payer`. See docs/payer.md.
"""
