"""Prior authorization, Da Vinci PAS shape: request and response Bundles (``bundles``), the
payer's off-chain store (``store``), the service behind the routes (``service``), the CMS
report from the chain (``metrics``) and the deadline watch (``deadlines``). The ledger side is
the ``prior_auth`` contract (:mod:`careledger.contracts.payer.prior_auth`)."""
