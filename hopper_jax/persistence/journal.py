"""An append-only JSON-lines journal: one line per evaluated candidate, written before the search goes on.

A write appends one line (or one generation's lines) and never rewrites anything, so its cost does not
grow with the history; fsync is grouped (see `Journal`). A torn last line (a kill mid-write) is dropped
on reading; a damaged line in the middle is skipped and counted (`Journal.damaged`). Values are JSON
data with tags for what JSON cannot hold (see codec.py).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable

from .codec import from_json, pack, to_json, unpack  # noqa: F401 - re-exported: the journal's value format


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
        self.count = 0  # lines in the file (as of the last `read`) plus records appended since
        self.damaged: list[int] = []  # line numbers `read` skipped

    def append(self, records: Iterable[dict]) -> None:
        """Write `records` (JSON-ready dicts, see `to_json`) as lines; fsync if the interval has passed."""
        lines = "".join(json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n" for record in records)
        if not lines:
            return
        if self._file is None:
            self._open()
        self._file.write(lines)
        self._file.flush()
        self.count += lines.count("\n")
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
        """Every intact record, in order. A torn last line (a kill mid-write) is dropped; other lines that
        are not a JSON object are skipped, their numbers kept in `damaged` for the caller to report."""
        self.damaged = []
        if not os.path.exists(self.path):
            self.count = 0
            return []
        with open(self.path, "rb") as file:
            lines = file.read().split(b"\n")
        lines.pop()  # the text after the last newline: empty, or a torn line
        records = []
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict):
                records.append(record)
            else:
                self.damaged.append(number)
        self.count = len(lines)
        return records

    def close(self) -> None:
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None
