"""benchmarks/bench_hpo.py --quick runs every method end to end and prints a well-formed table."""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
METHODS = ["hopper_jax 2×2", "pyhopper (jit once)", "pyhopper (jit per config)", "optuna TPE", "vmap (random)"]


def test_quick_benchmark_reports_every_method():
    env = {**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
    result = subprocess.run([sys.executable, "benchmarks/bench_hpo.py", "--quick"], cwd=ROOT, env=env,
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {}
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in METHODS:
            rows[cells[0]] = cells
    assert sorted(rows) == sorted(METHODS)
    for name, (_, configs, best, wall, compile_s, ratio) in rows.items():
        assert int(configs) == 4, name  # every method trained the same number of configurations
        assert 0.5 < float(best) <= 1.0, name  # well above chance (0.1) for the best of 4
        assert float(wall) > 0 and 0 <= float(compile_s) <= float(wall), name
    assert float(rows["vmap (random)"][5]) == 1
    bars = re.findall(r"\*\*(met|MISSED)\*\*", result.stdout)
    assert len(bars) == 5  # one wall bar against vmap, a wall and an accuracy bar against each PyHopper variant
    assert "Spread of the 4 random configurations" in result.stdout
    assert "Command: `python benchmarks/bench_hpo.py --quick`" in result.stdout
