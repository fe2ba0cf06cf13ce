"""The process pool: GPU pinning for a worker's life, cloudpickled objectives, remote exceptions, dying
workers, parallel speed and no process left behind. Pools are shared across checks (each start costs ~1 s)."""

import multiprocessing
import os
import signal
import threading
import time

import pytest
from support import LoadsNowhere, evaluate_all

from hopper_jax.evaluators import FAILED, OK, PRUNED, PruneEvaluation, should_prune
from hopper_jax.evaluators import pool as pool_module
from hopper_jax.evaluators.pool import ProcessPool
from hopper_jax.pruners import QuantilePruner


class Unpicklable(Exception):
    def __init__(self):
        super().__init__("holds a lock")
        self.lock = threading.Lock()


def probe(c):
    """One objective for the shared pool; the candidate says what to do."""
    op = c["op"]
    if op == "where":  # GPU id and pid in one exact float
        return float(os.environ["CUDA_VISIBLE_DEVICES"]) * 1e7 + os.getpid()
    if op == "sleep":
        time.sleep(c["s"])
        return float(os.getpid())
    if op == "raise":
        return {}["missing"]
    if op == "exit":
        os._exit(3)
    if op == "sys.exit":
        raise SystemExit(4)
    if op == "prune":
        raise PruneEvaluation()
    if op == "unpicklable":
        raise Unpicklable()
    if op == "env":
        return float(os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE") == "false")
    if op == "yield":  # a generator objective: every yield is reported
        return (value for value in c["values"])
    if op == "ask":  # a plain objective asking hj.should_prune itself
        for value in c["values"]:
            if should_prune(value):
                raise PruneEvaluation()
        return c["values"][-1]
    return None


def assert_gone(pids):
    assert multiprocessing.active_children() == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.fixture(scope="module")
def pool():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
        shared = ProcessPool(probe, {}, "per-gpu", quiet=True)
    yield shared
    shared.close(terminate=True)


def test_each_worker_keeps_its_gpu(pool):
    assert pool.capacity == 2
    seen = {}
    for outcome in evaluate_all(pool, [{"op": "where"}] * 12).values():
        gpu, pid = divmod(int(outcome.value), 10**7)
        seen.setdefault(pid, set()).add(gpu)
    assert all(len(ids) == 1 for ids in seen.values())  # pinned for the worker's life
    assert set.union(*seen.values()) == {3, 5}
    assert evaluate_all(pool, [{"op": "env"}] * 2)[0].value == 0.0  # one worker per GPU: preallocation is left on


def test_exceptions_keep_their_type_and_remote_traceback(pool):
    outcome = evaluate_all(pool, [{"op": "raise"}])[0]
    assert outcome.status == FAILED and isinstance(outcome.error, KeyError)
    notes = "\n".join(outcome.error.__notes__)
    assert "Traceback in worker process" in notes and "probe" in notes and "KeyError: 'missing'" in notes
    stand_in = evaluate_all(pool, [{"op": "unpicklable"}])[0].error  # cannot be pickled: a RuntimeError names it
    assert isinstance(stand_in, RuntimeError) and "Unpicklable" in str(stand_in) and stand_in.__notes__


def test_system_exit_and_pruning_do_not_kill_the_worker(pool):
    pids = pool.pids
    outcomes = evaluate_all(pool, [{"op": "sys.exit"}, {"op": "prune"}])
    exited, pruned = outcomes[0], outcomes[1]
    assert exited.status == FAILED and isinstance(exited.error, SystemExit) and not exited.crashed
    assert pruned.status == PRUNED
    assert pool.pids == pids


def test_a_dying_worker_costs_only_its_candidate(pool):
    before = pool.pids
    outcomes = evaluate_all(pool, [{"op": "exit"}] + [{"op": "sleep", "s": 0.0}] * 5)
    assert outcomes[0].status == FAILED and outcomes[0].crashed
    assert outcomes[0].problem.startswith("worker process died (exit code 3)")
    assert all(outcomes[i].status == OK for i in range(1, 6))
    assert pool.capacity == 2 and len(set(pool.pids) - set(before)) == 1  # one replacement
    assert evaluate_all(pool, [{"op": "where"}] * 4)[0].status == OK


def test_a_killed_worker_is_replaced_on_the_same_gpu(pool):
    evaluate_all(pool, [{"op": "where"}] * 2)  # both workers ready
    pool.submit(0, {"op": "sleep", "s": 30})
    time.sleep(0.3)
    victim = next(w.process.pid for w in pool._workers if w.ticket == 0)
    gpu = next(w.slot for w in pool._workers if w.ticket == 0)
    os.kill(victim, signal.SIGKILL)
    [(ticket, outcome)] = pool.wait(timeout=10)
    assert ticket == 0 and outcome.crashed and "SIGKILL" in outcome.problem
    assert victim not in pool.pids and pool._workers[gpu].slot == gpu
    ids = {int(o.value) // 10**7 for o in evaluate_all(pool, [{"op": "where"}] * 8).values()}
    assert ids == {3, 5}


def test_workers_ignore_ctrl_c(pool):
    pids = pool.pids
    evaluate_all(pool, [{"op": "where"}] * 2)
    for pid in pids:
        os.kill(pid, signal.SIGINT)
    assert all(o.status == OK for o in evaluate_all(pool, [{"op": "sleep", "s": 0.05}] * 4).values())
    assert pool.pids == pids


def test_two_workers_run_in_parallel(pool):
    evaluate_all(pool, [{"op": "sleep", "s": 0.0}] * 2)  # warm-up: both workers ready
    start = time.perf_counter()
    outcomes = evaluate_all(pool, [{"op": "sleep", "s": 0.2}] * 4)
    assert time.perf_counter() - start < 0.65  # serially: 0.8 s
    assert len({o.value for o in outcomes.values()}) == 2


def test_workers_prune_with_the_pruner_as_it_was_at_submission(pool):
    pruner = QuantilePruner(0.5, warmup=1)
    pruner.direction = "max"
    pruner.append([1.0, 1.0, 1.0], False)
    pool.submit(0, {"op": "yield", "values": [0.5, 2.0, 2.0]}, pruner)  # below the median (1) at step 0
    pool.submit(1, {"op": "ask", "values": [3.0, 3.0, 3.0]}, pruner)
    for _ in range(3):  # learnt after submission: the running candidates do not see it
        pruner.append([10.0, 10.0, 10.0], False)
    state = pruner.state_dict()
    outcomes = {}
    while len(outcomes) < 2:
        outcomes.update(pool.wait(timeout=30))
    assert outcomes[0].status == PRUNED and outcomes[0].partial == [0.5]
    assert outcomes[1].status == OK and outcomes[1].value == 3.0 and outcomes[1].partial == [3.0, 3.0, 3.0]
    assert pruner.state_dict() == state  # workers never change the parent's pruner
    later = evaluate_all(pool, [{"op": "yield", "values": [3.0, 3.0, 3.0]}] * 2)
    pool.submit(2, {"op": "ask", "values": [3.0, 3.0, 3.0]}, pruner)  # now the median is 10
    [(ticket, outcome)] = pool.wait(timeout=30)
    assert ticket == 2 and outcome.status == PRUNED and outcome.partial == [3.0]
    assert all(o.status == OK and o.partial == [] for o in later.values())  # no pruner: nothing reported


def test_wait_returns_at_once_when_idle_and_honours_its_timeout(pool):
    assert pool.wait() == [] and pool.in_flight() == 0
    pool.submit(7, {"op": "sleep", "s": 0.5})
    start = time.perf_counter()
    assert pool.wait(timeout=0.1) == [] and pool.in_flight() == 1
    assert time.perf_counter() - start < 0.4
    [(ticket, outcome)] = pool.wait()
    assert ticket == 7 and outcome.status == OK
    with pytest.raises(RuntimeError, match="busy"):
        for ticket in range(3):
            pool.submit(ticket, {"op": "sleep", "s": 0.0})
    pool.wait()
    pool.wait()


def test_closures_run_and_close_leaves_no_process(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    offset = 0.5
    with ProcessPool(lambda c, scale: scale * c + offset + probe({"op": "env"}), {"scale": 2.0}, "2x per-gpu",
                     quiet=True) as pool:
        assert pool.capacity == 2  # two workers share GPU 7: preallocation is turned off (+1.0)
        outcomes = evaluate_all(pool, [1.0, 2.0, 3.0])
        assert [outcomes[i].value for i in range(3)] == [3.5, 5.5, 7.5]
        pids = pool.pids
    assert_gone(pids)
    pool.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(0, 1.0)


def test_terminate_kills_a_running_candidate():
    pool = ProcessPool(probe, {}, 2, quiet=True)
    pool.submit(0, {"op": "sleep", "s": 60})
    pids = pool.pids
    start = time.perf_counter()
    pool.close(terminate=True)
    assert time.perf_counter() - start < 5
    assert_gone(pids)


def test_unpicklable_objective_fails_before_any_worker_starts(monkeypatch):
    lock = threading.Lock()
    monkeypatch.setattr(pool_module.subprocess, "Popen", lambda *a, **k: pytest.fail("a worker was started"))
    with pytest.raises(ValueError, match="cloudpickle.*n_jobs=1"):
        ProcessPool(lambda c: c if lock else 0, {}, 2)
    with pytest.raises(ValueError, match="n_jobs"):
        ProcessPool(probe, {}, "several")


def test_an_objective_that_cannot_load_in_a_worker_is_reported():
    with pytest.raises(RuntimeError, match="could not load the objective") as caught:
        ProcessPool(LoadsNowhere(), {}, 2, quiet=True)
    assert isinstance(caught.value.__cause__, ImportError)
    assert multiprocessing.active_children() == []


def test_a_pool_that_does_not_wait_for_its_workers_runs_what_was_submitted_to_them():
    with ProcessPool(probe, {}, 2, quiet=True, wait_until_ready=False) as pool:
        assert not any(worker.ready for worker in pool._workers)  # returned before any interpreter loaded
        pool.submit(0, {"op": "sleep", "s": 0.0})
        pool.submit(1, {"op": "sleep", "s": 0.0})
        outcomes = dict(pool.wait())
        while len(outcomes) < 2:
            outcomes.update(pool.wait())
        assert {outcome.status for outcome in outcomes.values()} == {OK}
        assert {int(outcome.value) for outcome in outcomes.values()} <= set(pool.pids)


def test_an_objective_that_cannot_load_is_reported_by_a_pool_that_did_not_wait():
    pool = ProcessPool(LoadsNowhere(), {}, 2, quiet=True, wait_until_ready=False)
    pool.submit(0, 1.0)
    with pytest.raises(RuntimeError, match="could not load the objective"):
        pool.wait()
    pool.close(terminate=True)
    assert multiprocessing.active_children() == []
