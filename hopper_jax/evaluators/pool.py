"""A pool of worker processes evaluating a Python objective, one candidate per worker at a time.

Each worker is a fresh interpreter (`python -c`: the `spawn` start method, never fork) that talks to the
parent over its own socket. Its environment (CUDA_VISIBLE_DEVICES, ...) is set before Python starts, so it
holds for the worker's whole life whatever the user's code imports; the user's `__main__` is not re-imported
(the objective travels with cloudpickle). A worker that dies costs only its candidate (FAILED, crashed) and
is replaced by a fresh one on the same GPU slot.

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
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for_any
from typing import Any

import cloudpickle

from ..pruners import Pruner, check_pruner
from .gpus import parse_n_jobs, worker_environment
from .outcome import FAILED, Outcome
from .python import evaluate

_BOOTSTRAP = """\
import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)
import sys
from multiprocessing.connection import Connection
connection = Connection(int(sys.argv[1]))
sys.path[:] = connection.recv()
payload = connection.recv_bytes()
from hopper_jax.evaluators.pool import _serve
_serve(connection, payload)
"""
_STOP = b""  # parent → worker: exit after the current candidate
_START_ATTEMPTS = 3  # consecutive start-up deaths of one slot before the pool gives up


# Worker side: runs in the spawned interpreter.
def _portable(error: BaseException) -> BaseException:
    """`error` with its traceback attached as a note, or a RuntimeError stand-in if it cannot be pickled."""
    note = f"Traceback in worker process {os.getpid()}:\n" + "".join(traceback.format_exception(error)).rstrip()
    error.add_note(note)
    try:
        pickle.loads(cloudpickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any pickling failure means: send a stand-in
        kind = type(error)
        stand_in = RuntimeError(f"{kind.__module__}.{kind.__qualname__}: {error} (the original exception "
                                "could not be pickled to the parent process)")
        stand_in.add_note(note)
        return stand_in


def _evaluate(objective: Callable[..., Any], task: bytes, kwargs: dict[str, Any]) -> tuple[int, Outcome]:
    """Unpickle one task (ticket, candidate, pruner snapshot) and evaluate it; every failure is FAILED."""
    ticket, candidate_bytes, pruner_bytes = pickle.loads(task)
    try:
        pruner = None if pruner_bytes is None else cloudpickle.loads(pruner_bytes)
        outcome = evaluate(objective, cloudpickle.loads(candidate_bytes), kwargs, pruner)
    except BaseException as error:  # noqa: BLE001 - SystemExit etc. must not kill the worker
        outcome = Outcome(None, FAILED, f"raised {type(error).__name__}: {error}", error)
    if outcome.error is not None:
        outcome.error = _portable(outcome.error)
    return ticket, outcome


def _watch_parent(parent: int) -> None:
    """Exit when the parent process dies: its candidates are then of no use to anyone."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _serve(connection: Connection, payload: bytes) -> None:
    """The worker's main loop: load the objective, then evaluate candidates until told to stop."""
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        objective, kwargs = cloudpickle.loads(payload)
        message: tuple = ("ready", os.getpid())
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which raises it
        objective, message = None, ("init_error", _portable(error))
    try:
        connection.send_bytes(cloudpickle.dumps(message))
    except OSError:
        return  # the pool was closed while this worker started
    while objective is not None:
        try:
            task = connection.recv_bytes()
        except (EOFError, OSError):
            return  # the parent is gone
        if task == _STOP:
            return
        ticket, outcome = _evaluate(objective, task, kwargs)
        try:
            connection.send_bytes(cloudpickle.dumps(("result", ticket, outcome)))
        except OSError:
            return  # the parent closed the pool while this candidate ran


# Parent side.
@dataclasses.dataclass(eq=False)
class _Worker:
    slot: int
    process: subprocess.Popen
    connection: Connection
    sentinel: int | None  # a pidfd that becomes readable when the process exits (Linux)
    ready: bool = False
    ticket: int | None = None
    pending: bytes | None = None  # a task held until the worker is ready


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

    answers_at_once = False

    def __init__(self, objective: Callable[..., Any], kwargs: dict[str, Any], n_jobs: Any, *,
                 quiet: bool = False, pruner: Pruner | None = None):
        if not callable(objective):
            raise ValueError(f"The objective must be callable, got {objective!r}")
        self.capacity, self._gpus = parse_n_jobs(n_jobs)
        self.pruner = check_pruner(pruner)  # the run's pruner: snapshot with each submitted candidate
        self._payload = _dumps("The objective (with its kwargs)", (objective, dict(kwargs or {})))
        self._quiet, self._closed, self._done = quiet, False, []
        self._workers: list[_Worker] = []
        self._start_failures = [0] * self.capacity
        self._finalizer = weakref.finalize(self, _reap_all, self._workers)
        try:
            self._workers.extend(self._spawn(slot) for slot in range(self.capacity))
            while not all(worker.ready for worker in self._workers):
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
            self._poll(remaining)
        results, self._done = self._done, []
        return results

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
                        worker.connection.send_bytes(_STOP)
                    worker.connection.close()  # a worker blocked sending a large result gets EPIPE
            for worker in self._workers:
                _reap(worker, grace=2.0 if terminate else None)
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
            process = subprocess.Popen([sys.executable, *flags, "-c", _BOOTSTRAP, str(theirs.fileno())],
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
        try:
            worker.connection.send_bytes(task)
        except OSError:  # it died while idle: the candidate goes to its replacement
            worker.pending = task
            self._bury(worker)

    def _bury(self, worker: _Worker, starting: bool = False) -> None:
        """Read a dead worker's last messages, report its candidate FAILED and start a replacement."""
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
            self._done.append((worker.ticket, Outcome(None, FAILED, _death_problem(code), crashed=True)))
        self._log(f"hopper_jax: worker process {worker.process.pid} died (exit code {code}); starting a new one")
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
            worker.ticket = None
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
