"""Benchmarks: `python -m bench.serve`, `python -m bench.train`; results and commands in docs/benchmarks.md."""
