"""BookIt's benchmark: BookIt against a raw baseline on the same database, in one run.

`python -m bench` (see `python -m bench --help`) starts an embedded PostgreSQL
filled by `bookit demo-data`, `bookit serve` and the raw baseline (bench/baseline.py)
pinned to core 0, drives both with wrk (and asyncio clients) pinned to core 1,
and writes bench/results/<date>.json and docs/benchmarks.md.
"""
