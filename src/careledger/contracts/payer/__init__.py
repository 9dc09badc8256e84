"""What the payer contracts (``plans``, ``claims``, ``prior_auth``) run on: their values, benefit
plans and accumulators, the pure adjudication engine and reversals.

These live with the contracts, in the ledger-core layer, because endorsers execute them; the
payer capability (:mod:`careledger.payer`: the claim as billed, X12, FHIR, submission) builds on
them from above.
"""
