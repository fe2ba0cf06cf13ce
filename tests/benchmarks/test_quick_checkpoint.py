"""benchmarks/bench_checkpoint.py --quick measures all three costs and prints well-formed tables."""

from support import cells, run_quick


def test_quick_checkpoint_benchmark():
    stdout = run_quick("bench_checkpoint.py")
    rows = {cells(line)[0]: cells(line) for line in stdout.splitlines() if line.startswith("| ")}
    assert float(rows["no checkpoint"][1]) > 1.0  # a 1 ms objective costs at least 1 ms per evaluation
    assert float(rows["checkpoint (default 60 s snapshots)"][1]) > 1.0
    appends = [float(v[1]) for k, v in rows.items() if k.startswith("records ")]
    assert len(appends) == 2 and all(0 < a < 50 for a in appends)  # ms per append, not growing without bound
    (jax_row,) = [v for k, v in rows.items() if "element parameter" in k]
    assert float(jax_row[1]) > 0.05 and float(jax_row[2]) > 0  # 3 copies of 20 000 float32 ≈ 0.23 MiB
    assert 20 < float(jax_row[3]) < 200  # journal bytes per candidate: compact columns and a summary, no array
