"""The shared provider directory, Plan-Net shape: FHIR reads and searches (``plan_net``), licence
checks (``licence``), writes and corrections (``desk``) and their routes (``routes``). The
ledger side is the ``directory`` contract (:mod:`careledger.contracts.payer.directory`)."""
