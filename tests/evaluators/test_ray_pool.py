"""RayPool on one local 2-CPU Ray instance shared by the whole module.

Objectives are lambdas or local functions so that Ray ships them by value (a worker cannot import this file).
"""

import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import pytest
import ray  # noqa: E402  (the README test command installs the [ray] extra)
from support import evaluate_all

from hopper_jax.evaluators import FAILED, OK, PRUNED, PruneEvaluation
from hopper_jax.evaluators.ray_pool import MISSING_RAY, RayPool, task_shape


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for every test here; pools join it, so none of them shuts it down."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    with warnings.catch_warnings():  # JAX warns about Ray's fork+exec of its daemons
        warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error")
    yield
    ray.shutdown()


def test_results_come_back_with_their_tickets():
    with RayPool(lambda c, offset: c["x"] * 2 + offset, {"offset": 1}, 2) as pool:
        assert pool.capacity == 2
        results = evaluate_all(pool, [{"x": x} for x in range(6)])
    assert sorted(results) == list(range(6))
    assert [results[t].value for t in range(6)] == [1, 3, 5, 7, 9, 11]
    assert {o.status for o in results.values()} == {OK}


def test_exceptions_keep_their_type_and_remote_traceback():
    def objective(candidate):
        if candidate == "prune":
            raise PruneEvaluation()
        return 1 / candidate

    with RayPool(objective, {}, 2) as pool:
        results = evaluate_all(pool, [0, "prune", 4])
    error = results[0].error
    assert results[0].status == FAILED and isinstance(error, ZeroDivisionError)
    assert any("Traceback in Ray worker pid" in note and "in objective" in note for note in error.__notes__)
    assert results[1].status == PRUNED and results[2].value == 0.25


def test_tasks_prune_with_the_pruner_as_it_was_at_submission():
    from hopper_jax.pruners import QuantilePruner

    pruner = QuantilePruner(0.5, warmup=1)
    pruner.direction = "max"
    pruner.append([1.0, 1.0], False)

    def objective(candidate):
        yield from candidate

    with RayPool(objective, {}, 2) as pool:
        pool.submit(0, [0.5, 2.0], pruner)  # below the median (1) at step 0
        pool.submit(1, [3.0, 3.0], pruner)
        for _ in range(3):  # learnt after submission: the tasks do not see it
            pruner.append([10.0, 10.0], False)
        results = {}
        while len(results) < 2:
            results.update(pool.wait(timeout=60))
        pool.submit(2, [3.0, 3.0], pruner)  # now the median is 10
        [(ticket, late)] = pool.wait(timeout=60)
    assert results[0].status == PRUNED and results[0].partial == [0.5]
    assert results[1].status == OK and results[1].partial == [3.0, 3.0]
    assert ticket == 2 and late.status == PRUNED and late.partial == [3.0]
    assert pruner.pools == [[1.0, 10.0, 10.0, 10.0]] * 2  # only the caller's appends


def test_unpicklable_exception_becomes_runtime_error():
    class Picky(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a}-{b}")

    def objective(candidate):
        raise Picky(1, 2)

    with RayPool(objective, {}, 1) as pool:
        (outcome,) = evaluate_all(pool, [0]).values()
    assert isinstance(outcome.error, RuntimeError) and "Picky: 1-2" in str(outcome.error)
    assert "Traceback in Ray worker pid" in outcome.error.__notes__[0]


def test_a_dead_worker_fails_its_candidate_and_the_pool_goes_on():
    def objective(candidate):
        if candidate == "die":
            os._exit(1)
        return candidate

    with RayPool(objective, {}, 2) as pool:
        results = evaluate_all(pool, ["die", 1.0, 2.0])
        later = evaluate_all(pool, [3.0, 4.0])
    assert results[0].status == FAILED and results[0].crashed
    assert results[0].problem.startswith("Ray worker died")
    assert results[1].value == 1.0 and results[2].value == 2.0
    assert [later[0].value, later[1].value] == [3.0, 4.0]


def test_two_tasks_run_at_once(tmp_path):
    """Each task announces itself, then waits for the other's announcement: only concurrent tasks both see it."""
    def task(name):
        (tmp_path / name).touch()
        other = tmp_path / ("b" if name == "a" else "a")
        deadline = time.time() + 60
        while not other.exists() and time.time() < deadline:
            time.sleep(0.01)
        return float(other.exists())

    with RayPool(task, {}, 2) as pool:
        results = evaluate_all(pool, ["a", "b"])
    assert [o.value for o in results.values()] == [1.0, 1.0]


def test_wait_times_out_and_is_empty_when_idle():
    with RayPool(lambda seconds: time.sleep(seconds) or seconds, {}, 1) as pool:
        assert pool.wait(timeout=0) == []
        pool.submit(7, 1.0)
        with pytest.raises(RuntimeError, match="full"):
            pool.submit(8, 1.0)
        assert pool.wait(timeout=0.05) == [] and pool.in_flight() == 1
        assert [(t, o.value) for t, o in pool.wait(timeout=30)] == [(7, 1.0)]


def test_close_terminate_kills_running_tasks():
    pool = RayPool(lambda seconds: time.sleep(seconds) or seconds, {}, 2)
    pool.submit(0, 60.0)
    pool.submit(1, 60.0)
    start = time.perf_counter()
    pool.close(terminate=True)
    assert time.perf_counter() - start < 10 and pool.in_flight() == 0
    pool.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(2, 1.0)
    assert ray.is_initialized()  # the module's Ray is not the pool's to shut down
    with RayPool(lambda x: x, {}, 2) as fresh:  # both CPUs are free again
        assert {t: o.value for t, o in evaluate_all(fresh, [1.0, 2.0]).items()} == {0: 1.0, 1: 2.0}


def test_close_waits_and_exit_on_error_terminates():
    pool = RayPool(lambda seconds: time.sleep(seconds) or seconds, {}, 2)
    pool.submit(0, 0.3)
    pool.close()
    assert pool.in_flight() == 0
    with pytest.raises(KeyError), RayPool(lambda seconds: time.sleep(seconds), {}, 1) as pool:
        pool.submit(0, 60.0)
        raise KeyError("stop")
    assert pool.in_flight() == 0


def test_a_pool_without_ray_running_starts_and_stops_its_own():
    code = textwrap.dedent("""
        import warnings
        import jax.numpy as jnp
        import ray
        from hopper_jax.evaluators.ray_pool import RayPool
        warnings.simplefilter("error", RuntimeWarning)
        jnp.ones(2).sum()  # JAX is initialised: starting Ray must not warn about fork
        with RayPool(lambda c, k: c * k, {"k": 3.0}, 1, quiet=True) as pool:
            pool.submit(5, 2.0)
            [(ticket, outcome)] = pool.wait(timeout=60)
            assert ray.is_initialized() and (ticket, outcome.value) == (5, 6.0), outcome
        assert not ray.is_initialized()
        print("ok")
    """)
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": path}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
    assert "os.fork() was called" not in done.stderr  # a warning in an at-fork hook is printed, not raised


def test_per_gpu_needs_gpus():
    with pytest.raises(ValueError, match="no GPUs"):
        RayPool(lambda x: x, {}, "per-gpu")
    with pytest.raises(ValueError, match="n_jobs must be"):
        RayPool(lambda x: x, {}, "all of them")


def test_task_shape():
    gpus = {"CPU": 16.0, "GPU": 4.0}
    assert task_shape("per-gpu", gpus) == (4, {"num_cpus": 0, "num_gpus": 1.0})
    assert task_shape("2x per-gpu", gpus) == (8, {"num_cpus": 0, "num_gpus": 0.5})
    assert task_shape(3, gpus) == (3, {"num_cpus": 1})
    assert task_shape(-1, gpus) == task_shape(0, gpus) == (16, {"num_cpus": 1})
    assert task_shape(" 4", gpus) == (4, {"num_cpus": 1})
    for bad in (True, 1.5, "per-cpu", "0x per-gpu", "two"):
        with pytest.raises(ValueError):
            task_shape(bad, gpus)


def test_bad_objectives_are_refused():
    lock = threading.Lock()
    with pytest.raises(ValueError, match="pickle"):
        RayPool(lambda x: lock, {}, 1)
    with pytest.raises(ValueError, match="callable"):
        RayPool(42, {}, 1)


def test_missing_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match="hopper_jax\\[ray\\]") as info:
        RayPool(lambda x: x, {}, 1)
    assert str(info.value) == MISSING_RAY


def test_a_real_search_runs_through_ray():
    import hopper_jax as hj

    def objective(p):
        if p["n"] == 3:
            os._exit(1)  # a dying Ray worker costs only this candidate
        return -(p["x"] - 0.3) ** 2 - abs(p["n"] - 7) * 0.01

    search = hj.Search(x=hj.float(-1, 1), n=hj.int(0, 10))
    best = search.run(objective, "max", steps=24, seed=0, n_jobs=2, mp_backend="ray", quiet=True)
    assert search.best_f == pytest.approx(objective(best)) and best["n"] != 3
    assert len(search.history) >= 12
    assert all(r["candidate"]["n"] == 3 for r in search.history.records if r["status"] == "failed")
