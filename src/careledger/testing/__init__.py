"""Helpers for CareLedger's own tests and local experiments: never imported by a running node.

- :mod:`careledger.testing.pgserver` — a throwaway PostgreSQL server for state-store tests.
"""
