"""benchmarks/bench_checkpoint.py --quick measures all three costs and prints well-formed tables."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_quick_checkpoint_benchmark():
    result = subprocess.run([sys.executable, "benchmarks/bench_checkpoint.py", "--quick"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {cells(line)[0]: cells(line) for line in result.stdout.splitlines() if line.startswith("| ")}
    assert float(rows["no checkpoint"][1]) > 1.0  # a 1 ms objective costs at least 1 ms per evaluation
    assert float(rows["checkpoint (default 60 s snapshots)"][1]) > 1.0
    appends = [float(v[1]) for k, v in rows.items() if k.startswith("records ")]
    assert len(appends) == 2 and all(0 < a < 50 for a in appends)  # ms per append, not growing without bound
    (jax_row,) = [v for k, v in rows.items() if "element parameter" in k]
    assert float(jax_row[1]) > 0.05 and float(jax_row[2]) > 0  # 3 copies of 20 000 float32 ≈ 0.23 MiB
    assert 100 < float(jax_row[3]) < 2000  # journal bytes per record: an ArraySummary, not the array
