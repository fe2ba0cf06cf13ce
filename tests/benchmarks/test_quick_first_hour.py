"""benchmarks/bench_first_hour.py --quick runs both programs under both libraries and prints sane tables."""

from support import cells, run_quick


def test_quick_benchmark_reports_pools_and_runtime_budgets():
    stdout = run_quick("bench_first_hour.py", timeout=300)
    rows = [cells(line) for line in stdout.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    pools = [row for row in rows if row[0].startswith("n_jobs=")]
    assert {row[0] for row in pools} == {"n_jobs=5, 10 trivial steps"}  # --quick: the first program
    assert [row[1].split(":")[0] for row in pools] == ["whole program"] + ["of which"] * 3
    for _, _, theirs, ours, ratio in pools:
        assert float(theirs) > 0 and float(ours) > 0
        assert abs(float(ratio) - float(ours) / float(theirs)) < 0.05 * float(ratio)
    whole, *parts = ([float(row[3]) for row in pools])
    assert sum(parts) < whole  # the parts are timed inside the program, the whole from outside it
    runtime = {row[1]: row for row in rows if row[0] == "1s"}
    assert sorted(runtime) == ["PyHopper 1.2.3", "hopper_jax"]
    for _, library, evaluations, share in runtime.values():  # hopper_jax may compile for most of 1 s on CI
        assert int(evaluations) > (0 if library.startswith("PyHopper") else -1) and 0 <= float(share) <= 1
    assert "Command: `python benchmarks/bench_first_hour.py --quick`" in stdout
