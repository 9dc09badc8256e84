"""The ``careledger`` command: parses arguments and delegates; no business logic here."""
