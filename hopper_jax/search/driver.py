"""The one loop of `Search.run`, for every evaluator: fill the evaluator, wait, book in step order, repeat.

A source draws jobs (`PythonSource`: one candidate each; `JaxSource`: one generation each) and books them;
an evaluator evaluates them through one protocol: `capacity` (jobs in flight at once), and either
`answer(payload) -> result` (the in-process and the JAX evaluator, which answer at once; a JAX result is a
device array still being computed) or `submit(ticket, payload)` and `wait(timeout) -> [(ticket, result)]`
(process pools and Ray, which answer as workers finish). Jobs are booked in the order they were drawn, so a run does not depend on the timing of workers.

Everything a run sets up (the Ctrl+C handler, the evaluator's workers, the checkpoint store, the progress
bar, the callbacks' start) is torn down by one `ExitStack`, also when a callback or the objective raises.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections import deque
from typing import Any

from . import checkpointing
from .progress import ProgressBar

#: Seconds `wait` blocks before the loop looks at Ctrl+C and its budget again.
POLL_SECONDS = 0.5
#: After a first Ctrl+C (or `stop()`), seconds running evaluations in worker processes get to finish; then
#: their workers are killed and `run` returns the best (the candidates stay drawn: a checkpoint keeps them).
STOP_GRACE_SECONDS = 30.0


class Driver:
    """Runs one `Search.run` call: `source` draws and books jobs, `evaluator` evaluates them."""

    def __init__(self, search: Any, source: Any, evaluator: Any, booking: Any, budget: Any, *, quiet: bool,
                 store: Any = None, checkpoint_interval: float = 60.0, generational: bool = False):
        self.search, self.source, self.evaluator, self.booking, self.budget = search, source, evaluator, booking, budget
        self.quiet, self.store, self.interval = quiet, store, float(checkpoint_interval)
        self.generational = generational
        self._answer = getattr(evaluator, "answer", None)  # evaluators that answer at once
        self.stop_requested = False
        self.pending: list = []  # jobs a resumed run had in flight when it was saved
        self._abandoned: list = []  # jobs cancelled after the stop grace ran out (kept by the final snapshot)
        self._stop_seen: float | None = None
        self._last_snapshot = time.monotonic()
        source.snapshot_due = self._snapshot_due

    # ---- set-up and tear-down ------------------------------------------------------------------------------
    def run(self) -> None:
        callbacks = self.booking.callbacks
        with contextlib.ExitStack() as stack:
            stack.callback(callbacks.on_search_end)  # also after an error: loggers close their files
            if self.store is not None:
                stack.callback(self.store.close)
                stack.callback(self._flush_journal)
            stack.enter_context(self._interrupts())
            stack.enter_context(self.evaluator)
            if not self.quiet:
                print(f"Search is scheduled for {self.budget.describe()}")
                stack.enter_context(self._progress())
            callbacks.on_search_start(self.search)
            self._loop()
            self.source.finish()
            self.finish()
        if not self.quiet:
            print(self.booking.summary())

    @contextlib.contextmanager
    def _interrupts(self):
        """First Ctrl+C: draw nothing new, finish what is running, return the best; the second aborts."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True
            if not self.quiet:
                print(f"\nCtrl+C: finishing the running evaluations (worker processes get {STOP_GRACE_SECONDS:g} s), "
                      f"then returning the best (again to abort).")

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    @contextlib.contextmanager
    def _progress(self):
        bar = ProgressBar(self.budget, self.booking.state.best.f)
        self.booking.progress = bar
        try:
            yield
        finally:
            bar.close()
            self.booking.progress = None

    # ---- the loop ------------------------------------------------------------------------------------
    def _loop(self) -> None:
        window: deque = deque()  # jobs in step order
        waiting: dict[int, Any] = {}  # ticket -> job, for results still out
        for job in self.pending:  # a resumed run: what was in flight when it was saved
            self._add(window, waiting, job)
        while True:
            while not self.stop_requested and len(window) < self.evaluator.capacity and not self._done(window):
                job = self.source.next_job(window)
                if job is not None:
                    self._add(window, waiting, job)
            if not window:
                return
            if window[0].result is None:
                if self._grace_over():
                    self.evaluator.cancel()
                    self._abandoned = list(window)
                    return
                for ticket, result in self.evaluator.wait(timeout=POLL_SECONDS):
                    waiting.pop(ticket).result = result
            if window[0].result is not None:
                self.source.complete(window.popleft())
                if self.store is not None:
                    self._flush_journal()
                    self._checkpoint(window, force=False)

    def _grace_over(self) -> bool:
        """True once a stop was asked STOP_GRACE_SECONDS ago and the evaluator can cancel what still runs."""
        if not self.stop_requested or not hasattr(self.evaluator, "cancel"):
            return False
        if self._stop_seen is None:
            self._stop_seen = time.monotonic()
        return time.monotonic() - self._stop_seen >= STOP_GRACE_SECONDS

    def _add(self, window: deque, waiting: dict, job: Any) -> None:
        window.append(job)
        if job.result is not None:  # replayed from the journal
            return
        if self._answer is not None:
            job.result = self._answer(job.payload)
        else:
            waiting[job.step] = job
            self.evaluator.submit(job.step, job.payload)

    def _done(self, window: deque) -> bool:
        if self.generational:  # a generation in flight still has to run: count it against a runtime budget
            return self.budget.done(next_cost=(len(window) + 1) * self.source.job_seconds)
        return self.budget.done()

    # ---- checkpoints ---------------------------------------------------------------------------------
    def _flush_journal(self) -> None:
        if self.store is not None and self.booking.lines:
            self.store.journal.append(self.booking.lines)
            self.booking.lines = []

    def _snapshot_due(self) -> bool:
        return self.store is not None and time.monotonic() - self._last_snapshot >= self.interval

    def _checkpoint(self, window: Any = (), force: bool = True, finished: bool = False) -> None:
        """Snapshot the search now (journal first); jobs in `window` are drawn but not booked. A source whose
        state runs ahead of what `window` can account for is snapshotted at a later booking."""
        if self.store is None or not (force or self._snapshot_due()) or not self.source.can_snapshot(window):
            return
        self._flush_journal()
        self.source.flush()
        self.store.journal.sync()  # the snapshot must never be ahead of what the journal holds on disk
        tree, meta = checkpointing.snapshot(self.search.engine, self.booking, self.budget, finished, self.store.codec,
                                            self.source.pending(window), self.source.rewind(window))
        self.store.save(meta["step"], tree, meta)
        self._last_snapshot = time.monotonic()

    def snapshot_now(self) -> None:
        """A snapshot before the run starts (a new checkpoint)."""
        self._checkpoint(force=True)

    def finish(self) -> None:
        """After the loop: journal records never reached go to the history; then the final snapshot."""
        if self.store is None:
            return
        replay = self.source.replay
        if replay:
            replay.restore_rest(self.booking)
        self._checkpoint(self._abandoned, finished=self.budget.done() and not self.stop_requested)
