"""benchmarks/bench_startup.py --quick measures every space and both runs and prints well-formed tables."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_quick_startup_benchmark():
    result = subprocess.run([sys.executable, "benchmarks/bench_startup.py", "--quick"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {cells(line)[0]: cells(line)[1:] for line in result.stdout.splitlines() if line.startswith("| ")}
    spaces = [k for k in rows if k.startswith(("6 scalar", "float vector"))]
    assert len(spaces) == 3
    assert all(float(v) > 0 for k in spaces for v in rows[k])  # seconds, ms and ratios: all measured
    runs = [v for k, v in rows.items() if "search" in k]
    assert len(runs) == 3 and all(float(v) > 0 for run in runs for v in run)
