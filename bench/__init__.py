"""Köprü benchmarks: run them with `scripts/bench` (not collected by pytest:
the project's testpaths is `tests`). Each benchmark is a module `bench/<name>.py`
with a `main(argv)` and writes `bench/results/<name>.json`."""
