"""benchmarks/bench_coco.py --quick runs every optimizer on bbob through the cocoex observer, and the
headline fractions are read back correctly from the observer's data."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
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


def _observer_run(data, d: int, budget: int = 50, seconds: float = 1.0) -> None:
    """A fake cocoex observer folder of hopper_jax on bbob f1 at dimension d (one instance) and its record."""
    folder = data / "exdata" / "bbob" / "hopper_jax"
    (folder / "data_f1").mkdir(parents=True)
    (folder / "data_f1" / f"bbobexp_f1_DIM{d}.dat").write_text(
        "% f evaluations | g evaluations | best noise-free fitness - Fopt | ...\n1 0 +2.0e+02 0 0\n9 0 +1.0e-09 0 0\n")
    (folder / "bbobexp_f1.info").write_text(f"suite = 'bbob', funcId = 1, DIM = {d}\n%\n"
                                            f"data_f1/bbobexp_f1_DIM{d}.dat, 1:9|1.0e-09")  # no final newline
    (data / "exdata" / "bbob" / "hopper_jax.json").write_text(json.dumps(
        {"command": f"run d={d}", "date": "today", "dims": [d], "functions": "1", "instances": "1",
         "budget": budget, "seconds": seconds, "hopper_jax_sha256": "x"}))


def test_merge_joins_runs_of_other_dimensions_and_refuses_a_repeat(tmp_path):
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_coco import merge_data, observer_folder, read_runs

    for d in (2, 5):
        _observer_run(tmp_path / f"d{d}", d, seconds=d)
    merged = tmp_path / "merged"
    merge_data(str(merged), [str(tmp_path / "d2"), str(tmp_path / "d5")])
    folder = observer_folder(str(merged), "bbob", "hopper_jax")
    assert sorted(read_runs(folder)) == [2, 5]
    info = open(os.path.join(folder, "bbobexp_f1.info")).read().splitlines()
    assert [line for line in info if line.startswith("suite")] == [
        "suite = 'bbob', funcId = 1, DIM = 2", "suite = 'bbob', funcId = 1, DIM = 5"]  # one block per line
    record = json.loads(open(folder + ".json").read())
    assert record["dims"] == [2, 5] and record["seconds"] == 7 and record["command"] == "run d=2; run d=5"
    before = sorted(glob.glob(os.path.join(folder, "**"), recursive=True))
    with pytest.raises(SystemExit, match="exists already"):
        merge_data(str(merged), [str(tmp_path / "d5")])
    assert sorted(glob.glob(os.path.join(folder, "**"), recursive=True)) == before
    assert open(os.path.join(folder, "bbobexp_f1.info")).read().count("DIM = 5") == 1  # nothing appended
    _observer_run(tmp_path / "d10", 10, budget=100)
    with pytest.raises(SystemExit, match="one budget"):
        merge_data(str(merged), [str(tmp_path / "d10")])
    assert sorted(glob.glob(os.path.join(folder, "**"), recursive=True)) == before
