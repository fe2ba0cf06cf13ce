"""Faults of the process pool: hung evaluations, Ctrl+C during a hang, a killed parent, leaking workers."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import hopper_jax as hj
from hopper_jax.evaluators import FAILED
from hopper_jax.evaluators.pool import ProcessPool
from hopper_jax.evaluators.worker import BOOTSTRAP

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def hangs_first_time(candidate, marker):
    """The first evaluation anywhere (claimed through an exclusive file) hangs; the others return x."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        time.sleep(60)
    except FileExistsError:
        pass
    return candidate["x"]


def records_pid(candidate, log):
    with open(log, "a") as file:
        file.write(f"{os.getpid()}\n")
    return candidate["x"]


class DuplicateSteps(hj.Callback):
    def __init__(self):
        self.steps = []

    def on_duplicate_sampled(self, candidate, info):
        self.steps.append(info.step)


def test_an_evaluation_past_its_timeout_fails_and_its_worker_is_replaced(tmp_path):
    search = hj.Search(x=hj.float(0, 1))
    duplicates = DuplicateSteps()
    started = time.monotonic()
    search.run(hangs_first_time, "max", steps=6, n_jobs=2, timeout=1.5, quiet=True, seed=0,
               kwargs={"marker": str(tmp_path / "claimed")}, ignore_nans=True, callbacks=[duplicates])
    assert time.monotonic() - started < 30
    statuses = [record["status"] for record in search.history.records]
    failed = [record for record in search.history.records if record["status"] == FAILED]
    assert len(failed) == 1 and "timed out after 1.5 s" in str(failed[0].get("error", failed[0]))
    assert statuses.count(FAILED) == 1 and search.best_f is not None
    # every step of the budget was evaluated or was a duplicate (a move onto a wall already evaluated)
    steps = [record["step"] for record in search.history.records] + duplicates.steps
    assert sorted(steps) == list(range(6))


def test_workers_are_recycled_after_max_tasks(tmp_path):
    log = tmp_path / "pids"
    search = hj.Search(x=hj.float(0, 1))
    search.run(records_pid, "max", steps=8, n_jobs=2, max_tasks_per_worker=2, quiet=True, seed=0,
               kwargs={"log": str(log)})
    pids = log.read_text().split()
    assert len(pids) == 8 and all(pids.count(pid) <= 2 for pid in pids) and len(set(pids)) >= 4
    assert [record["status"] for record in search.history.records] == ["ok"] * 8


def sleeps(candidate):
    time.sleep(candidate)
    return float(os.getpid())


def test_the_pool_kills_an_overdue_worker_and_goes_on_with_a_fresh_one():
    with ProcessPool(sleeps, {}, 2, quiet=True, timeout=1.0) as pool:
        first = pool.pids
        pool.submit(0, 30.0)
        pool.submit(1, 0.0)
        results = dict(pool.wait())
        while len(results) < 2:
            results.update(pool.wait())
        assert results[1].status == "ok" and results[0].status == FAILED and "timed out after 1 s" in results[0].problem
        killed = (set(first) - set(pool.pids)).pop()  # exactly one worker replaced
        assert len(set(first) & set(pool.pids)) == 1 and not alive(killed)
        pool.submit(2, 0.0)
        pool.submit(3, 0.0)
        outcomes = [outcome for _, outcome in pool.wait()] + [outcome for _, outcome in pool.wait()]
        assert all(outcome.status == "ok" for outcome in outcomes)


def test_ray_refuses_the_limits_before_it_starts():
    with pytest.raises(ValueError, match="not to mp_backend='ray'"):
        hj.Search(x=hj.float(0, 1)).run(lambda c: c["x"], "max", steps=2, n_jobs=2, mp_backend="ray", quiet=True,
                                        timeout=5.0)


@pytest.mark.parametrize("kwargs", [{"timeout": 1.0}, {"max_tasks_per_worker": 3}])
def test_the_limits_need_worker_processes(kwargs):
    with pytest.raises(ValueError, match="n_jobs >= 2"):
        hj.Search(x=hj.float(0, 1)).run(lambda c: c["x"], "max", steps=2, quiet=True, **kwargs)


@pytest.mark.parametrize("kwargs, message", [({"timeout": 0}, "timeout must be"), ({"timeout": True}, "timeout must"),
                                             ({"max_tasks_per_worker": 0}, "max_tasks_per_worker must")])
def test_bad_limits_are_refused_before_any_worker_starts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        hj.Search(x=hj.float(0, 1)).run(lambda c: c["x"], "max", steps=2, n_jobs=2, quiet=True, **kwargs)


CHILD = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {tests!r})
    import hopper_jax as hj
    from hopper_jax.search import driver
    from test_pool_faults import hangs_after_a_few
    driver.STOP_GRACE_SECONDS = 1.0
    search = hj.Search(x=hj.float(0, 1))
    search.run(hangs_after_a_few, "max", steps={steps}, n_jobs=2, seed=0, quiet=True, kwargs={{"log": {log!r}}},
               checkpoint_path={checkpoint!r})
    print("best", search.best_f, flush=True)
""")


def hangs_after_a_few(candidate, log):
    with open(log, "a") as file:
        file.write(f"{os.getpid()}\n")
    with open(log) as file:
        if len(file.read().split()) > 4:
            time.sleep(600)  # hung, e.g. in a deadlock
    return peak_inside(candidate)


def peak_inside(candidate):
    """Best at x = 0.3: a best on a wall would make outward moves repeat it, and repeats are not evaluated."""
    return 1.0 - abs(candidate["x"] - 0.3)


def start_child(tmp_path, steps=1000, checkpoint=None):
    log = tmp_path / "pids"
    script = CHILD.format(tests=os.path.dirname(os.path.abspath(__file__)), log=str(log), steps=steps,
                          checkpoint=checkpoint)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": ROOT})
    # The fifth evaluation hangs. The other worker may hang in a sixth, or idle: outcomes are told in step
    # order, so a hung earlier step holds back new draws once n_jobs candidates are out. Either way one hangs.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (log.exists() and len(log.read_text().split()) >= 5):
        time.sleep(0.1)
    assert log.exists() and len(log.read_text().split()) >= 5, child.stderr.read() if child.poll() else ""
    time.sleep(0.3)
    return child, sorted({int(pid) for pid in log.read_text().split()})


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_first_ctrl_c_returns_the_best_within_the_grace_even_while_workers_hang(tmp_path):
    child, workers = start_child(tmp_path)
    child.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert time.monotonic() - started < 15 and out.startswith("best 0.")
    assert not any(alive(pid) for pid in workers)


def test_candidates_cancelled_by_the_stop_are_evaluated_on_resume(tmp_path):
    checkpoint = str(tmp_path / "ck")
    child, _ = start_child(tmp_path, steps=30, checkpoint=checkpoint)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0 and out.startswith("best"), err
    resumed = hj.Search(x=hj.float(0, 1))
    resumed.run(peak_inside, "max", steps=30, seed=0, quiet=True, checkpoint_path=checkpoint)
    assert sorted(record["step"] for record in resumed.history.records) == list(range(30))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_killed_parent_even_while_hung(tmp_path):
    child, workers = start_child(tmp_path)
    assert any(alive(pid) for pid in workers)
    child.kill()
    child.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)


def death_signal(candidate):
    """The signal this process gets when its parent dies (prctl PR_GET_PDEATHSIG)."""
    import ctypes

    value = ctypes.c_int(0)
    ctypes.CDLL(None, use_errno=True).prctl(2, ctypes.byref(value))
    return float(value.value)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_ask_the_kernel_to_kill_them_with_their_parent():
    search = hj.Search(x=hj.float(0, 1))
    search.run(death_signal, "max", steps=2, n_jobs=2, quiet=True, seed=0)
    assert search.history.fs == [float(signal.SIGKILL)] * 2  # not only the watchdog: also a worker hung in C code


WATCHED = textwrap.dedent("""
    import os, subprocess, sys, time
    grandchild = "\\n".join([
        "import os, sys, threading, time",
        "from hopper_jax.evaluators.worker import _watch_parent",
        "threading.Thread(target=_watch_parent, args=(int(sys.argv[1]),), daemon=True).start()",
        "print(os.getpid(), flush=True)",
        "time.sleep(600)"])
    subprocess.Popen([sys.executable, "-c", grandchild, str(os.getpid())])
    time.sleep(600)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_watchdog_alone_ends_a_worker_whose_parent_died():
    """The fallback where PR_SET_PDEATHSIG is missing: this worker never called prctl."""
    parent = subprocess.Popen([sys.executable, "-c", WATCHED], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": ROOT})
    try:
        worker = int(parent.stdout.readline())
        assert alive(worker)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and alive(worker):
        time.sleep(0.1)
    assert not alive(worker)


def test_a_worker_whose_parent_died_before_it_started_exits_at_once():
    """The race PR_SET_PDEATHSIG leaves: the parent (here a pid that is not the parent) is already gone."""
    ours, theirs = socket.socketpair()  # ours stays open and silent: without the check it would wait forever
    with ours, theirs:
        code = subprocess.run([sys.executable, "-c", BOOTSTRAP, str(theirs.fileno()), str(os.getpid() + 1)],
                              pass_fds=(theirs.fileno(),), timeout=10, check=False).returncode
    assert code == 1
