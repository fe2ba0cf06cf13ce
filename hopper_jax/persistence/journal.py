"""An append-only JSON-lines journal: one line per evaluated candidate, written before the search goes on.

A write appends one line (or one generation's lines) and never rewrites anything, so its cost does not
grow with the history; fsync is grouped (see `Journal`). A torn last line (a kill mid-write) is dropped
on reading; a damaged line in the middle is skipped with a warning. Values are JSON with tags for what
JSON cannot hold: numpy arrays (``{"__array__": [...], "dtype": ..., "shape": ...}``), tuples, non-finite
floats and, as a last resort, pickled objects (base64).
"""

from __future__ import annotations

import base64
import json
import math
import os
import time
import warnings
from collections.abc import Iterable
from typing import Any

import cloudpickle
import numpy as np


def to_json(value: Any) -> Any:
    """`value` as plain JSON data (dicts with string keys, lists, numbers, strings), tagged where needed."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.ndarray):
        return {"__array__": to_json(value.tolist()), "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return to_json(value.item())
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [to_json(v) for v in value]}
    return {"__pickle__": base64.b64encode(cloudpickle.dumps(value)).decode()}


def pack(array: np.ndarray) -> dict:
    """A numpy array as compact JSON data: its raw bytes in base64, with dtype and shape."""
    array = np.ascontiguousarray(array)
    return {"__b64__": base64.b64encode(array.tobytes()).decode(), "dtype": array.dtype.str,
            "shape": list(array.shape)}


def unpack(value: dict) -> np.ndarray:
    """Inverse of `pack`."""
    data = base64.b64decode(value["__b64__"])
    return np.frombuffer(data, np.dtype(value["dtype"])).reshape(value["shape"]).copy()


def from_json(value: Any) -> Any:
    """Inverse of `to_json`."""
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__b64__" in value:
        return unpack(value)
    if "__array__" in value:
        return np.asarray(from_json(value["__array__"]), dtype=np.dtype(value["dtype"])).reshape(value["shape"])
    if "__float__" in value:
        return float(value["__float__"])
    if "__tuple__" in value:
        return tuple(from_json(v) for v in value["__tuple__"])
    if "__pickle__" in value:
        return cloudpickle.loads(base64.b64decode(value["__pickle__"]))
    return {k: from_json(v) for k, v in value.items()}


class Journal:
    """Append-only JSON lines at `path`.

    Every `append` hands its lines to the operating system before it returns, so they survive the
    process being killed. They reach the disk by fsync (which also survives a machine crash) at least
    every `sync_interval` seconds and on `sync`/`close` (group commit: an fsync costs milliseconds, far
    more than a cheap evaluation). `sync_interval=0` fsyncs every append.
    """

    def __init__(self, path: str | os.PathLike, sync_interval: float = 1.0):
        self.path = os.fspath(path)
        self.sync_interval = sync_interval
        self._file = None
        self._synced = time.monotonic()

    def append(self, records: Iterable[dict]) -> None:
        """Write `records` (JSON-ready dicts, see `to_json`) as lines; fsync if the interval has passed."""
        lines = "".join(json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n" for record in records)
        if not lines:
            return
        if self._file is None:
            self._open()
        self._file.write(lines)
        self._file.flush()
        if time.monotonic() - self._synced >= self.sync_interval:
            self.sync()

    def sync(self) -> None:
        """fsync what was appended."""
        if self._file is not None:
            os.fsync(self._file.fileno())
        self._synced = time.monotonic()

    def _open(self) -> None:
        """Open for appending; a torn last line from a killed writer is cut off first."""
        if os.path.exists(self.path):
            with open(self.path, "rb+") as file:
                data = file.read()
                end = data.rfind(b"\n") + 1
                if end != len(data):
                    file.truncate(end)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held open across appends

    def read(self) -> list[dict]:
        """Every intact record, in order. A torn last line is dropped silently; other bad lines warn."""
        if not os.path.exists(self.path):
            return []
        with open(self.path, "rb") as file:
            lines = file.read().split(b"\n")
        lines.pop()  # the text after the last newline: empty, or a torn line
        records = []
        for number, line in enumerate(lines, 1):
            try:
                records.append(json.loads(line))
            except ValueError:
                warnings.warn(f"hopper_jax: skipped damaged line {number} of the journal {self.path}; that "
                              f"candidate will be evaluated again", stacklevel=2)
        return records

    def close(self) -> None:
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None
