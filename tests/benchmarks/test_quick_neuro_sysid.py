"""benchmarks/bench_neuro.py and bench_sysid.py --quick run every optimizer end to end and print sane tables."""

import math

from support import cells, run_quick


def quick_rows(script: str) -> dict[str, list[str]]:
    """Run `script --quick`; return the markdown table's rows keyed by optimizer name."""
    stdout = run_quick(script, timeout=180)
    assert f"Command: `python benchmarks/{script} --quick`" in stdout
    rows = {}
    for line in stdout.splitlines():
        row = cells(line)
        if line.startswith("| ") and len(row) > 2 and row[0] not in ("env", "budget"):
            rows[row[2] if script == "bench_neuro.py" else row[1]] = row
    return rows


def test_quick_neuroevolution_benchmark():
    rows = quick_rows("bench_neuro.py")
    assert sorted(rows) == ["hopper_jax", "openes", "snes"]
    for name, (env, threshold, _, solved, gens, seconds, best, held_out) in rows.items():
        assert env == "CartPole-v1" and threshold == ">= 475", name
        assert solved in ("0/1", "1/1"), name
        if solved == "1/1":
            assert 1 <= int(gens) <= 6 and float(seconds) > 0, name
        else:
            assert gens == "not solved within 6 gens", name
        assert 1 <= float(best) <= 500 and 1 <= float(held_out) <= 500, name
    assert float(rows["hopper_jax"][6]) >= 100  # the zero policy it starts from scores about 9


def test_quick_system_identification_benchmark():
    rows = quick_rows("bench_sysid.py")
    assert sorted(rows) == ["cma_es", "hopper_jax", "hopper_jax_seq", "pyhopper", "random"]
    for name, (budget, _, at_floor, loss, param_error, rmse_x, rmse_theta, seconds) in rows.items():
        assert budget == "400" and at_floor in ("0/1", "1/1"), name
        values = [float(v) for v in (loss, param_error, rmse_x, rmse_theta, seconds)]
        assert all(math.isfinite(v) and v >= 0 for v in values), name
        assert float(loss) >= 0.8, name  # nothing fits below the noise floor (about 0.92)
    assert float(rows["hopper_jax"][3]) < float(rows["random"][3])  # same 400 evaluations
