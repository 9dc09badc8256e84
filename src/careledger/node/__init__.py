"""Peers, gateways and the embedded (one-process) network."""
