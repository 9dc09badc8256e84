"""Synthetic consortia, stories and workloads (demo and benchmarks)."""
