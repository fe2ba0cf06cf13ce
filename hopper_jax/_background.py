"""Work started in a background thread now and collected later: compiling ahead of the first call.

Tracing and lowering hold Python's lock, but XLA's compile does not, so a function compiled in a background
thread overlaps the caller's own tracing, another compile, or the device running a generation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Background:
    """`fn(*args)` running in its own thread; `result()` waits for it."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str):
        self._value: Any = None
        # not a daemon: the interpreter waits for it at exit (XLA aborts the process if torn down mid-compile)
        self._thread = threading.Thread(target=self._run, args=(fn, args), name=name)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple) -> None:
        try:
            self._value = fn(*args)
        except Exception:  # noqa: BLE001 - the caller does the work again in its own thread and raises there
            self._value = None

    def result(self) -> Any:
        """What `fn` returned, or None if it raised."""
        self._thread.join()
        return self._value
