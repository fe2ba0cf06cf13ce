"""A pool of worker processes evaluating a Python objective, one candidate per worker at a time.

Each worker is a fresh interpreter (`python -c`: the `spawn` start method, never fork) that talks to the
parent over its own socket. Its environment (CUDA_VISIBLE_DEVICES, ...) is set before Python starts, so it
holds for the worker's whole life whatever the user's code imports; the user's `__main__` is not re-imported
(the objective travels with cloudpickle). A worker that dies costs only its candidate (FAILED, crashed) and
is replaced by a fresh one on the same GPU slot.

Faults: an evaluation running longer than `timeout` seconds is FAILED ("timed out") and its worker killed
and replaced; `max_tasks_per_worker` retires a worker after that many evaluations (a leaking objective
starts afresh); `cancel()` kills whatever still runs (a stop that cannot wait). Workers die with the parent
however it dies: the kernel kills them (PR_SET_PDEATHSIG on Linux), and a watchdog thread checks the parent.

Pruning: `submit(ticket, candidate, pruner)` pickles a snapshot of the pruner with the task, and the worker
decides on that candidate's estimates with its own copy. Only the parent's pruner learns (the caller
appends each outcome's `partial` to it), so a decision in a worker is a pure function of the pruner's
state when the candidate was submitted and of that candidate's own estimates: deterministic given the
order of submissions and results, whatever the timing, which exact resumption from a checkpoint needs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for_any
from typing import Any

import cloudpickle

from ..pruners import Pruner, check_pruner
from .gpus import parse_n_jobs, worker_environment
from .outcome import FAILED, Outcome
from .worker import BOOTSTRAP, STOP

_START_ATTEMPTS = 3  # consecutive start-up deaths of one slot before the pool gives up


@dataclasses.dataclass(eq=False)
class _Worker:
    slot: int
    process: subprocess.Popen
    connection: Connection
    sentinel: int | None  # a pidfd that becomes readable when the process exits (Linux)
    ready: bool = False
    ticket: int | None = None
    pending: bytes | None = None  # a task held until the worker is ready
    started: float | None = None  # monotonic time its current task was sent
    tasks: int = 0  # evaluations it finished


def _death_problem(code: int) -> str:
    problem = f"worker process died (exit code {code})"
    if code < 0:
        name = {sig.value: sig.name for sig in signal.Signals}.get(-code, f"signal {-code}")
        problem += f"; killed by {name}" + (" (often the out-of-memory killer)" if name == "SIGKILL" else "")
    return problem


def _reap(worker: _Worker, terminate: bool = False, grace: float | None = 2.0) -> int:
    """Wait for the worker's process (terminating it first if asked) and release its handles."""
    if terminate and worker.process.poll() is None:
        worker.process.terminate()
    try:
        code = worker.process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        code = worker.process.wait()
    worker.connection.close()
    if worker.sentinel is not None:
        os.close(worker.sentinel)
        worker.sentinel = None
    return code


def _reap_all(workers: list[_Worker]) -> None:
    """No worker outlives its pool (also run at garbage collection and interpreter exit)."""
    for worker in workers:
        _reap(worker, terminate=True)


def check_limits(timeout: Any, max_tasks_per_worker: Any) -> tuple[float | None, int | None]:
    """(`timeout`, `max_tasks_per_worker`) validated: positive seconds and a positive int, or None."""
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise ValueError(f"timeout must be a positive number of seconds per evaluation (or None), got {timeout!r}")
    if max_tasks_per_worker is not None and (isinstance(max_tasks_per_worker, bool) or not isinstance(
            max_tasks_per_worker, int) or max_tasks_per_worker < 1):
        raise ValueError(f"max_tasks_per_worker must be an int >= 1 (or None), got {max_tasks_per_worker!r}")
    return (None if timeout is None else float(timeout)), max_tasks_per_worker


def _dumps(what: str, value: Any) -> bytes:
    try:
        return cloudpickle.dumps(value)
    except Exception as error:  # noqa: BLE001 - cloudpickle raises many kinds
        raise ValueError(
            f"{what} cannot be sent to worker processes ({type(error).__name__}: {error}). With n_jobs > 1 it "
            "must be picklable by cloudpickle: do not close over locks, open files, sockets, threads or live "
            "devices (create them inside the objective, or at module level of an importable module), or use "
            "n_jobs=1 to evaluate in this process.") from error


class ProcessPool:
    """Evaluates candidates in `capacity` worker processes; `n_jobs` takes PyHopper's forms (see gpus.py)."""


    def __init__(self, objective: Callable[..., Any], kwargs: dict[str, Any], n_jobs: Any, *,
                 quiet: bool = False, pruner: Pruner | None = None, timeout: float | None = None,
                 max_tasks_per_worker: int | None = None, wait_until_ready: bool = True):
        """`timeout`: seconds an evaluation may run (None: no limit); `max_tasks_per_worker`: evaluations after
        which a worker is replaced by a fresh one (None: never). `wait_until_ready=False` returns as soon as the
        workers are spawned (a candidate submitted to a starting worker waits for it; a worker that cannot
        load the objective raises at the next `wait`), so the caller's own start-up overlaps theirs."""
        if not callable(objective):
            raise ValueError(f"The objective must be callable, got {objective!r}")
        self.timeout, self.max_tasks = check_limits(timeout, max_tasks_per_worker)
        self.capacity, self._gpus = parse_n_jobs(n_jobs)
        self._retired: list[_Worker] = []  # told to stop after their last task, not reaped yet
        self.pruner = check_pruner(pruner)  # the run's pruner: snapshot with each submitted candidate
        self._payload = _dumps("The objective (with its kwargs)", (objective, dict(kwargs or {})))
        self._quiet, self._closed, self._done = quiet, False, []
        self._workers: list[_Worker] = []
        self._start_failures = [0] * self.capacity
        self._finalizer = weakref.finalize(self, _reap_all, self._workers)
        try:
            self._workers.extend(self._spawn(slot) for slot in range(self.capacity))
            while wait_until_ready and not all(worker.ready for worker in self._workers):
                self._poll(None, starting=True)
        except BaseException:
            self.close(terminate=True)
            raise

    @property
    def pids(self) -> list[int]:
        """Process ids of the current workers."""
        return [worker.process.pid for worker in self._workers]

    def in_flight(self) -> int:
        """Candidates submitted whose results have not come back from a worker yet."""
        return sum(worker.ticket is not None for worker in self._workers)

    def submit(self, ticket: int, candidate: Any, pruner: Pruner | None = None) -> None:
        """Start evaluating `candidate` on an idle worker; at most `capacity` may be in flight.

        `pruner` (default: the pool's) is pickled now: the worker decides with its state as of this call.
        """
        pruner = self.pruner if pruner is None else pruner
        if self._closed:
            raise RuntimeError("The pool is closed; create a new ProcessPool to evaluate more candidates.")
        idle = [worker for worker in self._workers if worker.ticket is None]
        if not idle:
            raise RuntimeError(f"All {self.capacity} workers are busy: call wait() before submitting more.")
        snapshot = None if check_pruner(pruner) is None else _dumps("The pruner", pruner)
        task = pickle.dumps((ticket, _dumps(f"Candidate {ticket}", candidate), snapshot))
        worker = max(idle, key=lambda w: w.ready)  # a ready worker first, else one restarting
        worker.ticket = ticket
        if worker.ready:
            self._send_task(worker, task)
        else:
            worker.pending = task

    def wait(self, timeout: float | None = None) -> list[tuple[int, Outcome]]:
        """Block until at least one result is in (or `timeout` seconds pass); return all finished ones.

        Returns [] at once when nothing is in flight. A dead worker's candidate comes back FAILED.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done and self.in_flight() and not self._closed:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            overdue = self._next_expiry()
            if overdue is not None:
                remaining = overdue if remaining is None else min(remaining, overdue)
            self._poll(max(remaining, 0.0) if remaining is not None else None)
            self._expire()
        self._reap_retired()
        results, self._done = self._done, []
        return results

    def cancel(self) -> None:
        """Kill every running evaluation now (their results are dropped) and close the pool."""
        self.close(terminate=True)

    def _next_expiry(self) -> float | None:
        """Seconds until the first running evaluation passes `timeout` (None: no limit or nothing running)."""
        started = [w.started for w in self._workers if w.ticket is not None and w.started is not None]
        if self.timeout is None or not started:
            return None
        return min(started) + self.timeout - time.monotonic()

    def _expire(self) -> None:
        """Kill workers whose evaluation ran past `timeout`: FAILED, replaced by fresh workers."""
        if self.timeout is None:
            return
        now = time.monotonic()
        for worker in list(self._workers):
            if worker.ticket is not None and worker.started is not None and now - worker.started >= self.timeout:
                worker.process.kill()
                self._bury(worker, problem=f"timed out after {self.timeout:g} s (raise Search.run's timeout= if "
                                           "evaluations need longer); its worker process was killed")

    def _retire(self, worker: _Worker) -> None:
        """Replace an idle `worker` that reached `max_tasks_per_worker` by a fresh one."""
        with contextlib.suppress(OSError):
            worker.connection.send_bytes(STOP)
        self._retired.append(worker)
        self._workers[self._workers.index(worker)] = self._spawn(worker.slot)

    def _reap_retired(self, force: bool = False) -> None:
        for worker in list(self._retired):
            if force or worker.process.poll() is not None:
                _reap(worker, terminate=force)
                self._retired.remove(worker)

    def close(self, terminate: bool = False) -> None:
        """Stop the workers and wait until all have exited; `terminate` kills running evaluations."""
        if self._closed:
            return
        self._closed = True
        try:
            for worker in self._workers:
                if terminate and worker.process.poll() is None:
                    worker.process.terminate()
                elif not terminate:  # it exits after its current candidate, whose result is dropped
                    with contextlib.suppress(OSError):
                        worker.connection.send_bytes(STOP)
                    worker.connection.close()  # a worker blocked sending a large result gets EPIPE
            for worker in self._workers:
                _reap(worker, grace=2.0 if terminate else None)
            self._reap_retired(force=True)
        finally:  # kills whatever is left, e.g. after Ctrl+C while waiting for a long candidate
            self._finalizer()

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, kind: type | None, *_: Any) -> None:
        self.close(terminate=kind is not None)

    def _spawn(self, slot: int) -> _Worker:
        """Start a fresh interpreter for `slot`, its environment pinned before Python starts."""
        gpu = None if self._gpus is None else self._gpus[slot]
        shared = self.capacity > 1 if self._gpus is None else self._gpus.count(gpu) > 1
        flags = getattr(subprocess, "_args_from_interpreter_flags", list)()  # -O, -X ..., as multiprocessing
        ours, theirs = socket.socketpair()
        try:
            process = subprocess.Popen([sys.executable, *flags, "-c", BOOTSTRAP, str(theirs.fileno()),
                                        str(os.getpid())],
                                       pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                       env={**os.environ, **worker_environment(gpu, shared)})
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        sentinel = None  # without pidfds (old kernels) a death is seen as the end of its socket
        with contextlib.suppress(AttributeError, OSError):
            sentinel = os.pidfd_open(process.pid)
        worker = _Worker(slot, process, Connection(ours.detach()), sentinel)
        with contextlib.suppress(OSError):  # if it died at start-up, _poll sees it exit
            worker.connection.send(list(sys.path))  # read before the interpreter imports anything
            worker.connection.send_bytes(self._payload)
        return worker

    def _send_task(self, worker: _Worker, task: bytes) -> None:
        worker.started = time.monotonic()
        try:
            worker.connection.send_bytes(task)
        except OSError:  # it died while idle: the candidate goes to its replacement
            worker.pending = task
            self._bury(worker)

    def _bury(self, worker: _Worker, starting: bool = False, problem: str | None = None) -> None:
        """Read a dead worker's last messages, report its candidate FAILED (`problem`, else how it died) and
        start a replacement."""
        while self._receive(worker, dying=True):
            pass
        code = _reap(worker, terminate=True)
        if not worker.ready:
            self._start_failures[worker.slot] += 1
            if starting or self._start_failures[worker.slot] >= _START_ATTEMPTS:
                raise RuntimeError(
                    f"A worker process exited with code {code} while starting (its error is printed above). "
                    "Check that hopper_jax is importable with this interpreter and sys.path.")
        if worker.ticket is not None and worker.pending is None:
            self._done.append((worker.ticket, Outcome(None, FAILED, problem or _death_problem(code), crashed=True)))
        what = f"was killed: its evaluation {problem}" if problem else f"died (exit code {code})"
        self._log(f"hopper_jax: worker process {worker.process.pid} {what}; starting a new one")
        replacement = self._spawn(worker.slot)
        self._workers[self._workers.index(worker)] = replacement
        if worker.pending is not None:  # never reached the dead worker: the replacement runs it
            replacement.ticket, replacement.pending = worker.ticket, worker.pending

    def _receive(self, worker: _Worker, dying: bool = False) -> bool:
        """Handle one message from `worker`; False when its connection is dead."""
        try:
            if dying and not worker.connection.poll(0):
                return False
            message = pickle.loads(worker.connection.recv_bytes())
        except (EOFError, OSError):
            return False
        except Exception as error:  # noqa: BLE001 - e.g. an exception class the parent cannot import
            if worker.ticket is None:
                raise RuntimeError(f"A worker process sent a message this process cannot unpickle: {error}") from error
            message = ("result", worker.ticket, Outcome(None, FAILED, f"result could not be unpickled: {error}"))
        if message[0] == "ready":
            worker.ready, self._start_failures[worker.slot] = True, 0
            if worker.pending is not None and not dying:
                task, worker.pending = worker.pending, None
                self._send_task(worker, task)
        elif message[0] == "result":
            self._done.append((message[1], message[2]))
            worker.ticket, worker.started, worker.tasks = None, None, worker.tasks + 1
            if self.max_tasks is not None and worker.tasks >= self.max_tasks and not dying and not self._closed:
                self._retire(worker)
        elif message[0] == "init_error":
            raise RuntimeError(f"A worker process could not load the objective: {message[1]!r}. The module "
                               "defining it must be importable in a fresh Python process.") from message[1]
        return True

    def _poll(self, timeout: float | None, starting: bool = False) -> None:
        """Wait up to `timeout` for messages or deaths, and handle them."""
        owners: dict[Any, _Worker] = {}
        for worker in self._workers:
            owners[worker.connection] = worker
            if worker.sentinel is not None:
                owners[worker.sentinel] = worker
        handled: set[int] = set()
        for ready in wait_for_any(list(owners), timeout):
            worker = owners[ready]
            if id(worker) not in handled:
                handled.add(id(worker))
                if not (ready is worker.connection and self._receive(worker)):
                    self._bury(worker, starting)

    def _log(self, message: str) -> None:
        if not self._quiet:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)
