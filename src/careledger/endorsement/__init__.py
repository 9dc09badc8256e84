"""Endorsement policies and transaction simulation."""
