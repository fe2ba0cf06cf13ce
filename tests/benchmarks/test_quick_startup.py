"""benchmarks/bench_startup.py --quick measures the HPO space and every run and prints well-formed tables."""

from support import cells, run_quick


def test_quick_startup_benchmark():
    stdout = run_quick("bench_startup.py")
    rows = {cells(line)[0]: cells(line)[1:] for line in stdout.splitlines() if line.startswith("| ")}
    spaces = [k for k in rows if k.startswith(("6 scalar", "float vector"))]
    assert spaces == ["6 scalar floats (HPO)"]  # --quick compiles one space; the full run all three
    assert all(float(v) > 0 for k in spaces for v in rows[k])  # seconds, ms and ratios: all measured
    python_mode = [v for k, v in rows.items() if k.startswith("Python mode")]
    assert len(python_mode) == 2 and all(float(x) > 0 for row in python_mode for x in row)
    runs = [v for k, v in rows.items() if "search" in k]
    assert len(runs) == 4 and all(float(run[0]) > 0 and float(run[2]) > 0 for run in runs)  # wall, speed-up
    assert all(float(run[1]) > 0 for run in runs[:3])  # compile seconds: a second search compiles nothing
    assert float(runs[3][1]) == 0
