"""A checkpoint directory: a header, the trial journal, and Orbax snapshots of the search state.

Layout of `path/`::

    search.json      header written once, atomically: seed, space description, direction, mode, ...
    journal.jsonl    one line per evaluated candidate (see journal.py), fsync'd at least every second
    state/<step>/    Orbax CheckpointManager steps: the state pytree (arrays) + a small JSON part
    lock             held (flock) by the one process writing this checkpoint

Orbax commits a step by renaming a temporary directory, so a kill during a save leaves the previous
steps intact; a step that fails to restore is skipped (with a warning) for the one before it. Every
snapshot also holds a copy of the header and the number of journal lines it follows, so a deleted or
damaged `search.json` is rebuilt from it and a journal that lost lines is reported with the count lost.
Nothing here deletes a directory that holds evaluations unless asked to start afresh. Orbax is imported
here, lazily: `import hopper_jax` does not pay for it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
import warnings
from typing import Any

from .codec import Codec
from .journal import Journal

HEADER, JOURNAL, STATE, LOCK = "search.json", "journal.jsonl", "state", "lock"
KEEP = 3  # snapshots kept; older ones are deleted by Orbax


class CorruptCheckpointWarning(UserWarning):
    """A damaged snapshot or journal line was skipped; the search resumes from older, intact state."""


class CheckpointLocked(RuntimeError):
    """Another process is writing this checkpoint."""


def numbered_checkpoint(path: str | os.PathLike) -> str:
    """PyHopper's resolution of a checkpoint path: an existing directory that is not a checkpoint itself gets the
    first unused `pyhopper_run_<i:05d>.ckpt` inside it (so saving into a folder never overwrites); any other
    path is kept."""
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isdir(path) or os.path.exists(os.path.join(path, HEADER)):
        return path
    index = 0
    while os.path.exists(os.path.join(path, f"pyhopper_run_{index:05d}.ckpt")):
        index += 1
    return os.path.join(path, f"pyhopper_run_{index:05d}.ckpt")


class CheckpointStore:
    """The files of one checkpoint directory. `codec` encodes the values it holds (data only unless the
    user opted in to pickling); `header_data` is the header written or read."""

    def __init__(self, path: str | os.PathLike, codec: Codec | None = None):
        self.path = os.path.abspath(os.fspath(path))
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ValueError(f"checkpoint_path {self.path!r} is a file; hopper_jax checkpoints are directories "
                             f"(a header, a journal and Orbax snapshots). Pass a new or existing directory path.")
        self.codec = codec or Codec()
        self.journal = Journal(os.path.join(self.path, JOURNAL))
        self.header_data: dict | None = None
        self._manager = None
        self._lock: int | None = None

    # ---- one writer --------------------------------------------------------------------------------
    def lock(self) -> None:
        """Become this checkpoint's one writer, or raise CheckpointLocked naming the process that is. The
        lock is an flock on `lock`: the operating system drops it when its process ends, however it ends."""
        if self._lock is not None:
            return
        os.makedirs(self.path, exist_ok=True)
        descriptor = os.open(os.path.join(self.path, LOCK), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(descriptor)
            raise CheckpointLocked(f"The checkpoint at {self.path} is being written by {holder}; one process "
                                   f"writes a checkpoint at a time. Wait for that run to end (or stop it), or "
                                   f"pass another checkpoint_path.") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"process {os.getpid()} on {socket.gethostname()} (since "
                              f"{time.strftime('%Y-%m-%d %H:%M:%S')})\n".encode(), 0)
        self._lock = descriptor

    def unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    # ---- the header ----------------------------------------------------------------------------------
    def holds_evaluations(self) -> bool:
        """True when the journal has lines or a snapshot exists: what a fresh start would delete."""
        journal = os.path.join(self.path, JOURNAL)
        state = os.path.join(self.path, STATE)
        return ((os.path.isfile(journal) and os.path.getsize(journal) > 0)
                or (os.path.isdir(state) and any(name.isdigit() for name in os.listdir(state))))

    def read_header(self) -> dict | None:
        """The header; None for a directory without a checkpoint. A missing or damaged header of a directory
        that holds evaluations is rebuilt from the newest snapshot (with a warning), else refused."""
        path = os.path.join(self.path, HEADER)
        if not os.path.exists(path):
            if not self.holds_evaluations():
                return None
            return self._rebuild_header("is missing")
        try:
            with open(path, encoding="utf-8") as file:
                header = json.load(file)
            if not isinstance(header, dict) or not {"format", "seed", "space", "direction"} <= header.keys():
                raise ValueError("not a hopper_jax header")
        except (OSError, ValueError) as error:
            return self._rebuild_header(f"is damaged ({type(error).__name__}: {str(error)[:120]})")
        self.header_data = header
        return header

    def _rebuild_header(self, problem: str) -> dict:
        restored = self.restore()
        header = None if restored is None else restored[2].get("header")
        if header is None:
            lines = len(self.journal.read()) if os.path.exists(self.journal.path) else 0
            raise ValueError(f"The checkpoint at {self.path} holds {lines} journal records, but its search.json "
                             f"{problem} and no intact snapshot holds a copy. Restore search.json (e.g. from a "
                             f"backup) to resume, pass overwrite_checkpoint=True to start afresh (this deletes "
                             f"those records), or pass another checkpoint_path.")
        warnings.warn(f"hopper_jax: search.json in {self.path} {problem}; rebuilt it from the snapshot of step "
                      f"{restored[0]} (nothing else was lost)", CorruptCheckpointWarning, stacklevel=3)
        _write_atomically(os.path.join(self.path, HEADER), json.dumps(header, indent=1))
        self.header_data = header
        return header

    def create(self, header: dict) -> None:
        """Start afresh: remove an earlier checkpoint of ours here, then write `header` atomically."""
        self.close(keep_lock=True)
        for name in (HEADER, JOURNAL):
            if os.path.exists(os.path.join(self.path, name)):
                os.remove(os.path.join(self.path, name))
        shutil.rmtree(os.path.join(self.path, STATE), ignore_errors=True)
        os.makedirs(self.path, exist_ok=True)
        _write_atomically(os.path.join(self.path, HEADER), json.dumps(header, indent=1))
        self.journal.count = 0
        self.header_data = header

    # ---- Orbax snapshots ---------------------------------------------------------------------------
    def _orbax(self):
        if self._manager is None:
            import orbax.checkpoint as ocp

            options = ocp.CheckpointManagerOptions(max_to_keep=KEEP, enable_async_checkpointing=False,
                                                   cleanup_tmp_directories=True, create=True)
            self._manager = ocp.CheckpointManager(os.path.join(self.path, STATE), options=options,
                                                  item_names=("state", "meta"))
        return self._manager

    def save(self, step: int, tree: Any, meta: dict) -> None:
        """Snapshot `tree` (a pytree of arrays) and `meta` (JSON data) as step `step`; returns once committed."""
        import orbax.checkpoint as ocp

        meta = {**meta, "header": self.header_data, "journal_records": self.journal.count}
        manager = self._orbax()
        if step in manager.all_steps():
            manager.delete(step)  # e.g. the end-of-run snapshot after a periodic one at the same step
        manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)))
        manager.wait_until_finished()

    def restore(self) -> tuple[int, Any, dict] | None:
        """The newest snapshot that restores: (step, tree, meta); None if there is none."""
        if not os.path.isdir(os.path.join(self.path, STATE)):
            return None
        import orbax.checkpoint as ocp

        manager = self._orbax()
        for step in sorted(manager.all_steps(), reverse=True):
            try:
                restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                                                         meta=ocp.args.JsonRestore()))
                return step, restored["state"], restored["meta"]
            except Exception as error:  # noqa: BLE001 - any damage: fall back to the previous snapshot
                warnings.warn(f"hopper_jax: checkpoint step {step} in {self.path} could not be restored "
                              f"({type(error).__name__}: {str(error)[:200]}); using an older one and the journal",
                              CorruptCheckpointWarning, stacklevel=2)
        return None

    def close(self, keep_lock: bool = False) -> None:
        self.journal.close()
        if self._manager is not None:
            self._manager.close()
            self._manager = None
        if not keep_lock:
            self.unlock()


def _write_atomically(path: str, text: str) -> None:
    """Write to a temporary file, fsync it, rename it over `path`, fsync the directory."""
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    directory = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
