"""Benchmark harnesses (LoCoMo retrieval and QA); `benchmarks/` holds the runnable scripts."""
