"""The worker side of the process pool (pool.py): what runs in each spawned interpreter.

`BOOTSTRAP` is the interpreter's whole `-c` program: it makes the worker die with its parent (Linux's
PR_SET_PDEATHSIG, checked against the parent's pid given on the command line, and a watchdog thread), reads
`sys.path` and the pickled objective from its socket, then serves tasks until told to stop.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from .outcome import FAILED, Outcome
from .python import evaluate

BOOTSTRAP = """\
import ctypes, os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
try:  # die with the parent, even when hung in C code (Linux: PR_SET_PDEATHSIG = 1); elsewhere a watchdog
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
except Exception:
    pass
if os.getppid() != int(sys.argv[2]):  # the parent died before prctl took effect
    os._exit(1)
from multiprocessing.connection import Connection
connection = Connection(int(sys.argv[1]))
sys.path[:] = connection.recv()
payload = connection.recv_bytes()
from hopper_jax.evaluators.worker import serve
serve(connection, payload, int(sys.argv[2]))
"""
STOP = b""  # parent → worker: exit after the current candidate


def portable(error: BaseException, where: str | None = None, pickler: Any = cloudpickle) -> BaseException:
    """`error` with its traceback (from `where`, default this worker process) attached as a note, or a
    RuntimeError stand-in if `pickler` (cloudpickle, or Ray's) cannot send it to the parent."""
    where = where or f"worker process {os.getpid()}"
    note = f"Traceback in {where}:\n" + "".join(traceback.format_exception(error)).rstrip()
    error.add_note(note)
    try:
        pickler.loads(pickler.dumps(error))
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
        outcome.error = portable(outcome.error)
    return ticket, outcome


def _watch_parent(parent: int) -> None:
    """Exit when the parent process dies: its candidates are then of no use to anyone."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def serve(connection: Connection, payload: bytes, parent: int | None = None) -> None:
    """The worker's main loop: load the objective, then evaluate candidates until told to stop; exits when
    `parent` (a pid, default this process's parent now) dies."""
    threading.Thread(target=_watch_parent, args=(parent or os.getppid(),), daemon=True).start()
    try:
        objective, kwargs = cloudpickle.loads(payload)
        message: tuple = ("ready", os.getpid())
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which raises it
        objective, message = None, ("init_error", portable(error))
    try:
        connection.send_bytes(cloudpickle.dumps(message))
    except OSError:
        return  # the pool was closed while this worker started
    while objective is not None:
        try:
            task = connection.recv_bytes()
        except (EOFError, OSError):
            return  # the parent is gone
        if task == STOP:
            return
        ticket, outcome = _evaluate(objective, task, kwargs)
        try:
            connection.send_bytes(cloudpickle.dumps(("result", ticket, outcome)))
        except OSError:
            return  # the parent closed the pool while this candidate ran
