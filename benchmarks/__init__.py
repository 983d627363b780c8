"""Benchmarks: each prints its result beside a baseline run in the same process."""
