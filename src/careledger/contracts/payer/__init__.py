"""The payer contracts and what runs inside them on every endorser.

``values`` are the ledger forms of claims, adjudications and authorizations; ``model`` the
canonical claim as billed (FHIR Claim, 837P, 837I) on top of them; ``benefits`` the benefit
plans, coverage and accumulators; ``adjudication`` the pure, deterministic adjudication engine
and ``reversal`` its undo. The contracts: ``plans`` (benefit plans, coverage, trading partners),
``claims`` (adjudication with accumulators, prior-authorization matching, coordination of
benefits and within-payer duplicates), ``prior_auth`` (Da Vinci PAS decisions and their clocks),
``claim_fingerprints`` (cross-payer duplicates through metered OPRF fingerprints) and
``directory`` (the Plan-Net provider directory). What happens off chain — X12, PAS Bundles, HTTP
routes, the OPRF client and service — is in :mod:`careledger.payer`. See docs/payer.md.
"""
