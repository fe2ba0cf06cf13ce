"""A Ray engine with the process pool's interface: one Ray task per candidate, on a local or remote cluster.

Pruning as in the process pool (see pool.py): the pruner passed to `submit` is serialized with the task
at submission, so a task decides with a copy of the pruner's state as of then; only the caller's pruner
learns from the outcomes' `partial` estimates.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import warnings
from collections.abc import Callable
from typing import Any, Self

from ..pruners import Pruner, check_pruner
from .outcome import FAILED, Outcome
from .python import evaluate
from .worker import portable

MISSING_RAY = "n_jobs with mp_backend='ray' needs Ray: pip install 'hopper_jax[ray]'"
_PER_GPU = re.compile(r"^\s*(?:(\d+)\s*x\s*)?per-gpu\s*$", re.IGNORECASE)


def task_shape(n_jobs: int | str, resources: dict[str, float]) -> tuple[int, dict[str, float]]:
    """(capacity, Ray task resources) for `n_jobs` on a cluster with `resources` (ray.cluster_resources()).

    The forms of ProcessPool: an int (< 1: one task per cluster CPU), its string, 'per-gpu', 'Nx per-gpu'.
    """
    if isinstance(n_jobs, str) and re.fullmatch(r"\s*[+-]?\d+\s*", n_jobs):
        n_jobs = int(n_jobs)
    if isinstance(n_jobs, str):
        match = _PER_GPU.match(n_jobs)
        if not match:
            raise ValueError(f"n_jobs must be an int, 'per-gpu' or 'Nx per-gpu', got {n_jobs!r}")
        per_gpu = int(match.group(1) or 1)
        gpus = int(resources.get("GPU", 0))
        if per_gpu < 1:
            raise ValueError(f"n_jobs={n_jobs!r}: the multiplier must be at least 1")
        if gpus == 0:
            raise ValueError(f"n_jobs={n_jobs!r} but the Ray cluster has no GPUs (resources: {sorted(resources)})")
        return gpus * per_gpu, {"num_cpus": 0, "num_gpus": 1 / per_gpu}
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int):
        raise ValueError(  # noqa: TRY004 - ValueError, as ProcessPool
            f"n_jobs must be an int, 'per-gpu' or 'Nx per-gpu', got {n_jobs!r}")
    if n_jobs < 1:
        return max(1, int(resources.get("CPU", 1))), {"num_cpus": 1}
    return n_jobs, {"num_cpus": 1}


def _run_task(job: tuple[Callable[..., Any], dict[str, Any]], candidate: Any, pruner: Pruner | None,
              gpu_share: float) -> Outcome:
    """The body of one Ray task: evaluate one candidate (pruner: the submitted snapshot) for sending back."""
    if 0 < gpu_share < 1:  # several workers share a GPU: JAX must not grab 75 % of it up front
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    objective, kwargs = job
    outcome = evaluate(objective, candidate, kwargs, pruner)
    if outcome.error is not None:
        from ray import cloudpickle  # what Ray sends results with; this runs in a Ray worker

        outcome.error = portable(outcome.error, f"Ray worker pid {os.getpid()} on {socket.gethostname()}", cloudpickle)
    return outcome


class RayPool:
    """Evaluates candidates as Ray tasks (max_retries=0), at most `capacity` at a time."""


    def __init__(self, objective: Callable[..., Any], kwargs: dict[str, Any], n_jobs: int | str, *,
                 address: str | None = None, quiet: bool = False, pruner: Pruner | None = None):
        try:
            import ray
        except ImportError as error:
            raise ImportError(MISSING_RAY) from error
        if not callable(objective):
            raise ValueError(f"The objective must be callable, got {objective!r}")  # noqa: TRY004 - as PythonEvaluator
        task_shape(n_jobs, {"GPU": 1})  # a malformed n_jobs fails here, before any Ray starts
        self._ray = ray
        self.pruner = check_pruner(pruner)  # the run's pruner: snapshot with each submitted candidate
        self._owns_ray = self._connect(n_jobs, address, quiet)
        self._closed = False
        self._pending: dict[Any, int] = {}  # ObjectRef -> ticket
        try:
            self.capacity, resources = task_shape(n_jobs, ray.cluster_resources())
            self._job = self._put(objective, kwargs)
        except BaseException:
            self.close()
            raise
        self._remote = ray.remote(_run_task).options(max_retries=0, **resources)
        self._gpu_share = resources.get("num_gpus", 0.0)
        cpus = ray.cluster_resources().get("CPU", 0)
        if not quiet and "num_gpus" not in resources and self.capacity > cpus:
            warnings.warn(f"n_jobs={n_jobs} but the Ray cluster has {cpus:g} CPUs: "
                          f"at most {cpus:g} candidates run at once", stacklevel=2)

    def _connect(self, n_jobs: int | str, address: str | None, quiet: bool) -> bool:
        """Join a running Ray (this process's, `address`, or $RAY_ADDRESS) or start a local one; True if started."""
        ray = self._ray
        if ray.is_initialized():
            return False
        address = address or os.environ.get("RAY_ADDRESS") or None
        options: dict[str, Any] = {"include_dashboard": False, "ignore_reinit_error": True,
                                   "log_to_driver": False, "logging_level": logging.ERROR if quiet else logging.INFO}
        if address is not None:
            try:
                ray.init(address=address, **options)
            except ConnectionError as error:
                error.add_note(f"hopper_jax: could not join the Ray cluster at {address!r}; one started by "
                               "`ray start` with token authentication also needs RAY_AUTH_MODE=token here")
                raise
            return False
        workers = n_jobs.strip() if isinstance(n_jobs, str) else n_jobs
        num_cpus = int(workers) if re.fullmatch(r"\+?0*[1-9]\d*", str(workers)) else None  # else: all CPUs
        with warnings.catch_warnings():  # Ray fork+execs its daemons: JAX's fork warning does not apply
            warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
            ray.init(address="local", num_cpus=num_cpus, **options)  # "local": not a cluster left in /tmp/ray
        return True

    def _put(self, objective: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Ship the objective and its keyword arguments to the object store once, for every task."""
        try:
            return self._ray.put((objective, dict(kwargs or {})))
        except Exception as error:
            raise ValueError(f"mp_backend='ray' must pickle the objective and its kwargs to send them to "
                             f"Ray workers, which failed: {type(error).__name__}: {error}") from error

    def submit(self, ticket: int, candidate: Any, pruner: Pruner | None = None) -> None:
        """Start evaluating `candidate`; its outcome comes back from `wait` with `ticket`.

        `pruner` is serialized now (Ray pickles a task's arguments when it is submitted).
        """
        if self._closed:
            raise RuntimeError("submit() on a closed RayPool")
        if len(self._pending) >= self.capacity:
            raise RuntimeError(f"RayPool is full: {self.capacity} candidates in flight; wait() for one first")
        pruner = self.pruner if pruner is None else check_pruner(pruner)
        self._pending[self._remote.remote(self._job, candidate, pruner, self._gpu_share)] = ticket

    def wait(self, timeout: float | None = None) -> list[tuple[int, Outcome]]:
        """Every finished (ticket, outcome) once at least one has finished; [] on timeout or when idle."""
        if not self._pending:
            return []
        refs = list(self._pending)
        ready, _ = self._ray.wait(refs, num_returns=1, timeout=timeout)
        if not ready:
            return []
        ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        return [(self._pending.pop(ref), self._collect(ref)) for ref in ready]

    def _collect(self, ref: Any) -> Outcome:
        """The outcome behind a finished ref; a crashed or lost task becomes a FAILED outcome."""
        exceptions = self._ray.exceptions
        try:
            return self._ray.get(ref)
        except exceptions.TaskCancelledError as error:
            return Outcome(None, FAILED, f"Ray task cancelled: {_first_line(error)}", crashed=True)
        except exceptions.RayTaskError as error:  # the task raised outside the objective (e.g. an import)
            cause = error.cause if isinstance(error.cause, Exception) else error
            if cause is not error:
                cause.add_note(str(error))
            return Outcome(None, FAILED, f"Ray task failed: {type(cause).__name__}: {_first_line(cause)}", cause)
        except exceptions.RayError as error:  # WorkerCrashedError, NodeDiedError, OutOfMemoryError, ...
            return Outcome(None, FAILED, f"Ray worker died: {type(error).__name__}: {_first_line(error)}",
                           crashed=True)

    def in_flight(self) -> int:
        """How many candidates are submitted and not yet returned by `wait`."""
        return len(self._pending)

    def cancel(self) -> None:
        """Cancel whatever still runs and close the pool (a stop that cannot wait)."""
        self.close(terminate=True)

    def close(self, terminate: bool = False) -> None:
        """Wait for (or, with terminate, kill) the tasks in flight; shut Ray down if this pool started it."""
        if self._closed:
            return
        self._closed = True
        refs, self._pending = list(self._pending), {}
        try:
            if terminate:
                for ref in refs:
                    self._ray.cancel(ref, force=True)
            elif refs:
                self._ray.wait(refs, num_returns=len(refs))
        finally:
            if self._owns_ray:
                self._ray.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close(terminate=exc_type is not None)


def _first_line(error: BaseException) -> str:
    """The first non-empty line of an error's message (Ray's messages run to many lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
