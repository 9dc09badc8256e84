"""Payer workflows: the canonical claim model, benefit plans, deterministic adjudication."""
