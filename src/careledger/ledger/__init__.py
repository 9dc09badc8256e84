"""Transactions, blocks, the block store and the world state."""
