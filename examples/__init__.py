"""Runnable examples (`python examples/<name>.py`); also importable as `examples.<name>` from the repository
root, which is how the tests and the benchmarks reuse their models and objectives."""
