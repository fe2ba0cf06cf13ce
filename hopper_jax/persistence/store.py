"""A checkpoint directory: a header, the trial journal, and Orbax snapshots of the search state.

Layout of `path/`::

    search.json      header written once, atomically: seed, space description, direction, mode, ...
    journal.jsonl    one line per evaluated candidate (see journal.py), fsync'd at least every second
    state/<step>/    Orbax CheckpointManager steps: the state pytree (arrays) + a small JSON part

Orbax commits a step by renaming a temporary directory, so a kill during a save leaves the previous
steps intact; a step that fails to restore is skipped (with a warning) for the one before it. Orbax is
imported here, lazily: `import hopper_jax` does not pay for it.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from typing import Any

from .journal import Journal

HEADER, JOURNAL, STATE = "search.json", "journal.jsonl", "state"
KEEP = 3  # snapshots kept; older ones are deleted by Orbax


class CorruptCheckpointWarning(UserWarning):
    """A damaged snapshot or journal line was skipped; the search resumes from older, intact state."""


class CheckpointStore:
    """The files of one checkpoint directory; `exists` tells a resume from a fresh start."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.path.abspath(os.fspath(path))
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ValueError(f"checkpoint_path {self.path!r} is a file; hopper_jax checkpoints are directories "
                             f"(a header, a journal and Orbax snapshots). Pass a new or existing directory path.")
        self.journal = Journal(os.path.join(self.path, JOURNAL))
        self._manager = None

    @property
    def exists(self) -> bool:
        return os.path.isfile(os.path.join(self.path, HEADER))

    def create(self, header: dict) -> None:
        """Start afresh: remove an earlier checkpoint of ours here, then write `header` atomically."""
        self.close()
        for name in (HEADER, JOURNAL):
            if os.path.exists(os.path.join(self.path, name)):
                os.remove(os.path.join(self.path, name))
        shutil.rmtree(os.path.join(self.path, STATE), ignore_errors=True)
        os.makedirs(self.path, exist_ok=True)
        _write_atomically(os.path.join(self.path, HEADER), json.dumps(header, indent=1))

    def header(self) -> dict:
        with open(os.path.join(self.path, HEADER), encoding="utf-8") as file:
            return json.load(file)

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

    def close(self) -> None:
        self.journal.close()
        if self._manager is not None:
            self._manager.close()
            self._manager = None


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
