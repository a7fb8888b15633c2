"""Benchmark harness behind scripts/benchmark.py: workloads, systems under test, reports."""
