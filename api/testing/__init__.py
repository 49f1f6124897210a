"""Helpers that the test suite and the benchmarks share (never used by the service itself)."""
