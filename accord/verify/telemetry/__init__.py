"""Compute-provider oversight: undeclared large runs in cluster telemetry."""
