"""Identities in the consortium: organisations, members and decentralized identifiers (DIDs)."""
