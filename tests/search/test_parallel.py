"""Search.run with a pool of worker processes (n_jobs): steady state, faults, no leftover workers."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from support import LoadsNowhere

import hopper_jax as hj


def quadratic(p):
    return -(p["x"] - 0.3) ** 2 - abs(p["n"] - 7) * 0.01


def pid_logged(p, log):
    with open(log, "a") as file:
        file.write(f"{os.getpid()}\n")
    return quadratic(p)


def assert_all_gone(log):
    pids = {int(line) for line in open(log).read().split()}
    assert pids and os.getpid() not in pids
    deadline = time.monotonic() + 5
    for pid in pids:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, f"worker {pid} outlived run"
            time.sleep(0.05)


def crash_on_seven(p):
    if p["n"] == 7:
        os._exit(3)
    return quadratic(p)


def slow_then_fail(p):
    if p["n"] == 8:
        raise KeyError("eight")
    return quadratic(p)


def test_pool_search_finds_the_optimum_and_leaves_no_workers(tmp_path):
    log = tmp_path / "pids"
    search = hj.Search(x=hj.float(-1, 1), n=hj.int(0, 10))
    best = search.run(pid_logged, "max", steps=40, seed=0, n_jobs=2, quiet=True, kwargs={"log": str(log)})
    assert search.best_f == pytest.approx(quadratic(best))
    assert search.best_f > quadratic({"x": 0.0, "n": 5})
    assert len(search.history.records) <= 40
    assert len(set(open(log).read().split())) == 2  # two worker processes did the work
    assert_all_gone(log)


def test_pool_runs_lambdas_and_keeps_exception_types():
    search = hj.Search(x=hj.float(-1, 1), n=hj.int(0, 10))
    offset = 0.5
    search.run(lambda p: p["x"] + offset, "max", steps=12, seed=0, n_jobs=2, quiet=True)
    assert search.best_f == pytest.approx(search.best["x"] + offset)
    with pytest.raises(KeyError) as info:
        hj.Search(x=hj.float(-1, 1), n=hj.int(8, 8)).run(slow_then_fail, "max", steps=6, n_jobs=2, quiet=True)
    assert any("Traceback" in note for note in getattr(info.value, "__notes__", []))


def child_pids() -> set[int]:
    """This process's child processes (Linux: the pool's workers are Popen children of the main thread)."""
    with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as file:
        return {int(pid) for pid in file.read().split()}


def test_an_objective_that_cannot_load_in_the_workers_fails_the_run_and_leaves_none():
    search, before = hj.Search(x=hj.float(-1, 1)), child_pids()
    with pytest.raises(RuntimeError, match="could not load the objective") as info:
        search.run(LoadsNowhere(), "max", steps=6, n_jobs=2, quiet=True)
    assert isinstance(info.value.__cause__, ImportError)
    assert child_pids() <= before and search.best_f is None


def test_a_dying_worker_costs_only_its_candidate():
    search = hj.Search(x=hj.float(-1, 1), n=hj.int(0, 10))
    search.run(crash_on_seven, "max", steps=40, seed=1, n_jobs=2, quiet=True)
    failed = [r for r in search.history.records if r["status"] == "failed"]
    assert failed and all(r["candidate"]["n"] == 7 for r in failed)
    assert all("died" in r["error"] for r in failed)
    assert len(search.history) >= 20  # the search went on after the crashes


def test_n_jobs_is_for_python_mode_and_backends_are_checked():
    search = hj.Search(x=hj.float(-1, 1))
    with pytest.raises(ValueError, match="mode='python'"):
        search.run(lambda c: c["x"], "max", steps=4, mode="jax", n_jobs=2, quiet=True)
    with pytest.raises(ValueError, match="mp_backend"):
        search.run(lambda c: c["x"], "max", steps=4, n_jobs=2, mp_backend="dask", quiet=True)


def test_two_workers_run_in_parallel(tmp_path):
    """Each evaluation logs when it ran; some of them overlap (a timing-free test of concurrency)."""
    def objective(p):
        start = time.time()
        time.sleep(0.3)
        (tmp_path / f"{os.getpid()}-{start}").write_text(f"{start} {time.time()}")
        return p["x"]

    search = hj.Search(x=hj.float(-1, 1))
    search.run(objective, "max", steps=8, seed=1, n_jobs=2, quiet=True)
    intervals = sorted(tuple(map(float, f.read_text().split())) for f in tmp_path.iterdir())
    assert len(search.history.records) == len(intervals) == 8
    assert len({f.name.split("-")[0] for f in tmp_path.iterdir()}) == 2  # two worker processes
    assert any(b[0] < a[1] for a, b in zip(intervals, intervals[1:]))  # one started before another ended


CTRL_C_SCRIPT = textwrap.dedent("""
    import os, sys, time
    import hopper_jax as hj

    def slow(p, log):
        with open(log, "a") as file:
            file.write(f"{os.getpid()}\\n")
        time.sleep(1.0)
        return p["x"]

    search = hj.Search(x=hj.float(0, 1))
    print("started", flush=True)
    try:
        search.run(slow, "max", steps=50, seed=0, n_jobs=2, quiet=True, kwargs={"log": sys.argv[1]})
        print("returned", len(search.history), flush=True)
    except KeyboardInterrupt:
        print("interrupted", len(search.history), flush=True)
""")


@pytest.mark.parametrize("interrupts, outcome", [(1, "returned"), (2, "interrupted")])
def test_ctrl_c_finishes_running_candidates_then_a_second_terminates(tmp_path, interrupts, outcome):
    log = tmp_path / "pids"
    log.write_text("")
    child = subprocess.Popen([sys.executable, "-c", CTRL_C_SCRIPT, str(log)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60
        while len(log.read_text().split()) < 2:  # both workers are busy
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.05)
        for _ in range(interrupts):
            child.send_signal(signal.SIGINT)
            time.sleep(0.2)
        out, _ = child.communicate(timeout=60)
    finally:
        child.kill()
    word, evaluated = out.split()[-2:]
    assert word == outcome
    if interrupts == 1:
        assert 2 <= int(evaluated) < 50  # the running candidates finished and nothing new started
    assert_all_gone(log)
