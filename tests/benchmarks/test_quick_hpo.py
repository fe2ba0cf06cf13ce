"""benchmarks/bench_hpo.py --quick runs every method end to end and prints a well-formed table."""

import re

from support import cells, run_quick

METHODS = ["hopper_jax 2×2 (first run)", "hopper_jax 2×2 (rerun)", "pyhopper (jit once)", "pyhopper (jit per config)",
           "optuna TPE", "vmap (random)", "vmap 2×2 (random)"]


def test_quick_benchmark_reports_every_method():
    stdout = run_quick("bench_hpo.py", timeout=120)
    rows = {}
    for line in stdout.splitlines():
        row = cells(line)
        if line.startswith("| ") and row[0] in METHODS:
            rows[row[0]] = row
    assert sorted(rows) == sorted(METHODS)
    for name, (_, configs, best, wall, compile_s, ratio) in rows.items():
        assert int(configs) == 4, name  # every method trained the same number of configurations
        assert 0.5 < float(best) <= 1.0, name  # well above chance (0.1) for the best of 4
        assert float(wall) > 0 and 0 <= float(compile_s) <= float(wall), name
    assert float(rows["vmap (random)"][5]) == 1
    bars = re.findall(r"\*\*(met|MISSED)\*\*", stdout)
    # per hopper_jax row: a wall bar against each vmap (one batch; hopper_jax's batches), a wall and an accuracy
    # bar against each PyHopper
    assert len(bars) == 2 * 6
    assert "Spread of the 4 random configurations" in stdout
    assert "Command: `python benchmarks/bench_hpo.py --quick`" in stdout
