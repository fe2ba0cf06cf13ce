"""benchmarks/bench_hpo.py --quick runs every method end to end and prints a well-formed table."""

import os
import re
import subprocess
import sys

from support import ROOT, cells, run_quick

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


def test_timeline_lists_both_runs_compiles_and_training_batches():
    result = subprocess.run([sys.executable, "benchmarks/bench_hpo.py", "--timeline", "--configs", "4", "--populations",
                             "2", "--train-steps", "20"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 0, result.stderr[-3000:]
    sections = result.stdout.split("### ")[1:]
    assert [s.split(",")[0] for s in sections] == ["hopper_jax's first run", "the hand-written vmap"]
    for section in sections:
        rows = [cells(line) for line in section.splitlines() if line.startswith("| ") and not line.startswith("| from")]
        rows = [row for row in rows if not row[0].startswith("---")]
        assert any(row[3] == "XLA compile" for row in rows)
        assert all(float(start) <= float(end) for start, end, *_ in rows)
        ends = section.split("Training batches ended at ")[1].split(" s.")[0].split(", ")
        assert len(ends) == 2 and all(float(end) > 0 for end in ends)  # 4 configurations in batches of 2
