"""benchmarks/bench_coco.py --quick runs every optimizer on bbob through the cocoex observer, and the
headline fractions are read back correctly from the observer's data."""

import glob
import os
import subprocess
import sys

import numpy as np
from support import ROOT, cells

OPTIMIZERS = ["hopper_jax", "hopper_jax_seq", "cmaes", "ngopt"]


def test_first_hits_reads_targets_from_dat_lines():
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_coco import TARGETS, first_hits, solved_fraction

    block = ["1 0 +2.0e+02 0 0\n", "7 0 +5.0e+00 0 0\n", "30 0 +5.0e-09 0 0\n", "40 0 +5.0e-09 0 0\n"]
    first, evals = first_hits(block)
    assert evals == 40 and first.shape == TARGETS.shape == (51,)
    assert np.all(first[TARGETS >= 5.0] == 7) and np.all(first[TARGETS < 5.0] == 30)
    assert solved_fraction([(first, evals)], 10) == np.mean(TARGETS >= 5.0)
    first, _ = first_hits(["1 0 +3.0e+02 0 0\n"])
    assert np.all(np.isinf(first)) and solved_fraction([(first, 1)], 1) == 0.0


def test_importing_the_benchmark_leaves_jax_in_float32():
    import jax

    sys.path.insert(0, str(ROOT))
    import benchmarks.bench_coco  # noqa: F401 - main() turns on x64 for its own process only

    assert not jax.config.jax_enable_x64


def test_quick_coco_every_optimizer_observed_and_reported(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
    result = subprocess.run([sys.executable, "benchmarks/bench_coco.py", "--quick", "--data", str(tmp_path)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {}
    for line in result.stdout.splitlines():
        row = cells(line)
        if line.startswith("| 2 |"):
            rows[row[1]] = row
    assert sorted(rows) == sorted(OPTIMIZERS), result.stdout
    for name, (_, _, runs, factor, *fractions) in rows.items():
        assert runs == "2" and factor == "50", name  # f1 and f8, one instance, budget 50·d
        assert 0.0 <= float(fractions[0]) <= 1.0 and fractions[1:] == ["–"] * 3, (name, fractions)
        dat = glob.glob(str(tmp_path / "exdata" / "bbob" / name / "data_f*" / "*_DIM2.dat"))
        assert len(dat) == 2, (name, dat)  # the observer wrote both functions' data
    assert float(rows["hopper_jax"][4]) > 0.1 and float(rows["hopper_jax_seq"][4]) > 0.1  # easy targets on f1
