"""benchmarks/bench_shape.py --quick: the learned shape beats axis moves on a rotated valley, in both modes."""

from support import cells, run_quick


def test_quick_shape_ablation():
    stdout = run_quick("bench_shape.py")
    rows = [cells(line) for line in stdout.splitlines() if line.startswith("| rosenbrock_rot")]
    assert [row[2] for row in rows] == ["jax", "python"]
    for _, _, _, learned, axes in rows:
        assert float(learned) < float(axes)  # same seed, budget and mode: only the moves differ
    summary = {cells(line)[0]: cells(line)[1:] for line in stdout.splitlines() if line.startswith("| learned")}
    assert summary["learned shape (default)"][0] == "2" and float(summary["learned shape (default)"][1]) < 0
