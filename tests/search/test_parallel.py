"""Search.run with a pool of worker processes (n_jobs): steady state, faults, no leftover workers."""

import multiprocessing
import os
import time

import pytest

import hopper_jax as hj


def quadratic(p):
    return -(p["x"] - 0.3) ** 2 - abs(p["n"] - 7) * 0.01


def crash_on_seven(p):
    if p["n"] == 7:
        os._exit(3)
    return quadratic(p)


def slow_then_fail(p):
    if p["n"] == 8:
        raise KeyError("eight")
    return quadratic(p)


def test_pool_search_finds_the_optimum_and_leaves_no_workers():
    search = hj.Search(x=hj.float(-1, 1), n=hj.int(0, 10))
    best = search.run(quadratic, "max", steps=40, seed=0, n_jobs=2, quiet=True)
    assert search.best_f == pytest.approx(quadratic(best))
    assert search.best_f > quadratic({"x": 0.0, "n": 5})
    assert len(search.history.records) <= 40
    assert multiprocessing.active_children() == []


def test_pool_runs_lambdas_and_keeps_exception_types():
    search = hj.Search(x=hj.float(-1, 1), n=hj.int(0, 10))
    offset = 0.5
    search.run(lambda p: p["x"] + offset, "max", steps=12, seed=0, n_jobs=2, quiet=True)
    assert search.best_f == pytest.approx(search.best["x"] + offset)
    with pytest.raises(KeyError):
        hj.Search(x=hj.float(-1, 1), n=hj.int(8, 8)).run(slow_then_fail, "max", steps=6, n_jobs=2, quiet=True)
    assert multiprocessing.active_children() == []


def test_a_dying_worker_costs_only_its_candidate():
    search = hj.Search(x=hj.float(-1, 1), n=hj.int(0, 10))
    search.run(crash_on_seven, "max", steps=40, seed=1, n_jobs=2, quiet=True)
    failed = [r for r in search.history.records if r["status"] == "failed"]
    assert failed and all(r["candidate"]["n"] == 7 for r in failed)
    assert all("died" in r["error"] for r in failed)
    assert len(search.history) >= 20  # the search went on after the crashes
    assert multiprocessing.active_children() == []


def test_n_jobs_is_for_python_mode_and_backends_are_checked():
    search = hj.Search(x=hj.float(-1, 1))
    with pytest.raises(ValueError, match="mode='python'"):
        search.run(lambda c: c["x"], "max", steps=4, mode="jax", n_jobs=2, quiet=True)
    with pytest.raises(ValueError, match="mp_backend"):
        search.run(lambda c: c["x"], "max", steps=4, n_jobs=2, mp_backend="dask", quiet=True)


def test_two_workers_run_in_parallel():
    search = hj.Search(x=hj.float(-1, 1))
    search.run(lambda p: time.sleep(0.3) or p["x"], "max", steps=8, seed=1, n_jobs=2, quiet=True)
    finished = sorted(r["seconds"] for r in search.history.records)
    assert len(finished) == 8
    assert finished[-1] - finished[0] < 1.5  # 7 more sleeps after the first: ~0.9 s on 2 workers, 2.1 s serially
