"""Measurements that inform a choice of the pipeline but are not a stage of it; run from the repository
root as `python -m benchmarks.<name>` (docs/methods.md)."""
