"""Checkpoints of a search: what a snapshot holds, the journal records, and resuming from both.

A snapshot (Orbax, see persistence/store.py) holds the state between two events of the run: the core
state, the best (arrays and Python objects), the queue of guesses, the counters of the run, the
pruner's state and, for a pool, the drawn candidates not yet told (at most n_jobs); its frontier t is the
first untold step. Its size does not grow with the history.
The history and the duplicate cache are rebuilt from the journal; journal records of steps >= t are
replayed: the resumed search draws the same candidates from the same keys, and a candidate whose outcome
is in the journal is not evaluated again. In-flight candidates (no record) are evaluated again.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import cloudpickle
import jax
import numpy as np

from ..core.algorithm import HopperState
from ..evaluators.outcome import Outcome
from ..persistence import CheckpointStore, CorruptCheckpointWarning, from_json, to_json
from .callbacks import CandidateType, ParamInfo
from .candidates import Encoded
from .history import summarize_arrays

FORMAT = 1  # version of the checkpoint layout


# ---- the space, described for the compatibility check ------------------------------------------------
def _describe(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 16 else f"array{value.shape} in [{value.min()}, {value.max()}]"
    if isinstance(value, tuple | list):
        return [_describe(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return "<sub-tree>" if isinstance(value, dict) else type(value).__name__


def describe_space(space: Any) -> dict[str, dict]:
    """'path/to/leaf' → {'type': ..., and the declaration's settings: bounds, scale, grid, shape, options}."""
    described = {}
    for leaf in space.leaves:
        settings = {k: _describe(v) for k, v in sorted(vars(leaf.param).items())
                    if not k.startswith("_") and not callable(v) and k not in ("init", "init_index", "initial_value")}
        described["/".join(map(str, leaf.path))] = {"type": type(leaf.param).__name__, **settings}
    return described


def space_difference(saved: dict[str, dict], current: dict[str, dict]) -> str | None:
    """A sentence naming how two space descriptions differ, or None when they are the same."""
    for path in sorted(saved.keys() | current.keys()):
        old, new = saved.get(path), current.get(path)
        if old == new:
            continue
        if old is None or new is None:
            where = "this search" if old is None else "the checkpoint"
            return f"parameter '{path}' is only in {where}"
        changed = [f"{k}={old.get(k)!r} in the checkpoint but {new.get(k)!r} here"
                   for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)]
        return f"parameter '{path}' ({new['type']}) has " + "; ".join(changed)
    return None


# ---- journal records ---------------------------------------------------------------------------------
def journal_record(candidate: Any, f: float | None, info: ParamInfo, outcome: Outcome, key: int | None,
                   at: float, elapsed: float, max_array_size: int) -> dict:
    """One evaluation as JSON data; arrays over `max_array_size` elements are not kept (as in History).

    `at`: seconds since the history started; `elapsed`: seconds of the run's budget used so far.
    """
    return {"step": info.step, "key": key, "status": outcome.status, "f": f, "type": int(info.type),
            "temperature": info.temperature, "at": at, "elapsed": elapsed, "seconds": outcome.seconds,
            "error": info.error, "partial": getattr(outcome, "partial", None),
            "candidate": to_json(summarize_arrays(candidate, max_array_size))}


def cache_record(cache: dict[int, float | None]) -> dict:
    return {"cache": [[key, f] for key, f in cache.items()]}


def record_info(record: dict, start_time: float) -> ParamInfo:
    finished = start_time + record["at"]
    return ParamInfo(CandidateType(record["type"]), finished - record["seconds"], finished,
                     record["temperature"], record["step"] if record["step"] is not None else 0,
                     error=record["error"])


def record_outcome(record: dict) -> Outcome:
    """The outcome a journal record holds, flagged `replayed` (it is in the journal already)."""
    outcome = Outcome(record["f"], record["status"], record["error"], seconds=record["seconds"])
    outcome.replayed = True
    if record.get("partial") is not None:
        outcome.partial = list(record["partial"])
    return outcome


def replay_outcome(search: Any, replay: dict[int, list[dict]], info: ParamInfo, key: int) -> Outcome | None:
    """The outcome the journal holds for step `info.step` if it is this very candidate (cache `key`).

    Records of that step for another candidate (a runtime budget draws differently) go to the history.
    """
    records = replay.pop(info.step, ())
    match = next((r for r in records if r["key"] == key), None)
    for record in records:
        if record["key"] != key:
            restore_record(search, record)
    if match is None:
        return None
    info.finished_at = search._history.start_time + match["at"]
    return record_outcome(match)


def restore_record(search: Any, record: dict) -> None:
    """Put a journal record into the history and the duplicate cache (no evaluation, no callbacks)."""
    if "cache" in record:
        search._cache.update({key: f for key, f in record["cache"]})
        return
    history = search._history
    history.append(from_json(record["candidate"]), record["f"], record_info(record, history.start_time),
                   record["status"], slim=False)
    if record["key"] is not None:
        search._cache[record["key"]] = record["f"]


def existing_records(search: Any) -> list[dict]:
    """What a search already knows, for a new journal: its history (without steps) and its cache."""
    history = search._history
    records = [{**journal_record(r["candidate"], r["f"], ParamInfo(r["type"], 0.0, temperature=r["temperature"],
                                                                   error=r["error"]),
                                 Outcome(r["f"], r["status"], r["error"], seconds=r["duration"] or 0.0), None,
                                 r["seconds"], None, history.max_array_size), "step": None}
               for r in history.records]
    return records + ([cache_record(search._cache)] if search._cache else [])


# ---- snapshots -------------------------------------------------------------------------------------
def snapshot(search: Any, run: Any, finished: bool, pending: list = ()) -> tuple[dict, dict]:
    """(array pytree, JSON meta) of the search now; `pending`: drawn, untold candidates (a pool's window)."""
    state = jax.device_get(search._state)
    blob = cloudpickle.dumps({"best": search.best, "objects": search._best_encoded.objects,
                              "queue": [(q.encoded, q.objects, q.overrides) for q in search._queue],
                              "pending": [(*entry[:4], jax.device_get(entry[4]), *entry[5:]) for entry in pending]})
    tree = {"state": {name: list(v) if isinstance(v, tuple) else np.asarray(v)
                      for name, v in state._asdict().items()},
            "best_values": [np.asarray(v) for v in search._decoded_best()],
            "blob": np.frombuffer(blob, np.uint8)}
    budget = run.budget
    frontier = min([entry[3].step for entry in pending], default=search._steps_done)
    meta = {"format": FORMAT, "step": frontier, "steps_done": search._steps_done, "best_f": search._best_f,
            "draws": search._draws, "saved_at": time.time(),
            "initial_pending": bool(search._queue) and search._queue[0] is search._initial_guess,
            "run": {"finished": finished, "budget_step": budget.step, "elapsed": budget.elapsed,
                    "candidate_seconds": budget.candidate_seconds, "heat": run.heat, "duplicates": run.duplicates,
                    "stats": {str(int(kind)): dict(stats) for kind, stats in run.stats.items()}},
            "pruner": run.pruner_state()}
    return tree, meta


def restore_search(search: Any, tree: dict, meta: dict) -> list:
    """Put a snapshot's search-level state (core state, best, queue) into `search`; returns its pending."""
    state = {name: tuple(np.asarray(a) for a in v) if isinstance(v, list) else np.asarray(v)
             for name, v in tree["state"].items()}
    search._state = HopperState(**state)
    blob = cloudpickle.loads(np.asarray(tree["blob"], np.uint8).tobytes())
    search._best, search._best_f = blob["best"], meta["best_f"]
    search._best_values = tuple(np.asarray(v) for v in tree["best_values"])
    search._best_encoded = Encoded((), blob["objects"])
    search._queue = [Encoded(*entry) for entry in blob["queue"]]
    search._initial_guess = search._queue[0] if meta["initial_pending"] else None
    search._steps_done, search._draws = meta["steps_done"], meta["draws"]
    return blob["pending"]


def restore_run(run: Any, meta: dict) -> None:
    """Continue the saved run's counters: its budget is the one being used up (a finished run stays done)."""
    saved = meta["run"]
    budget = run.budget
    budget.step, budget.elapsed_before = saved["budget_step"], saved["elapsed"]
    budget.candidate_seconds = saved["candidate_seconds"]
    run.heat, run.duplicates = saved["heat"], saved["duplicates"]
    for kind, stats in saved["stats"].items():
        run.stats[CandidateType(int(kind))].update(stats)


def resume(search: Any, run: Any, store: CheckpointStore) -> dict[int, list[dict]]:
    """Load `store` into `search` and `run`; returns the journal records to replay, by step."""
    restored = store.restore()
    records = store.journal.read()
    frontier = 0
    if restored is None:
        if records:
            warnings.warn(f"hopper_jax: no intact snapshot in {store.path}; replaying the whole journal",
                          CorruptCheckpointWarning, stacklevel=3)
    else:
        frontier, tree, meta = restored
        run.pending = restore_search(search, tree, meta)
        restore_run(run, meta)
        run.load_pruner_state(meta.get("pruner"))
    replay: dict[int, list[dict]] = {}
    for record in records:
        step = record.get("step")
        if step is None or step < frontier:
            restore_record(search, record)
        else:
            replay.setdefault(step, []).append(record)
    last = max((r["elapsed"] for rs in replay.values() for r in rs if r.get("elapsed") is not None), default=0.0)
    run.budget.elapsed_before = max(run.budget.elapsed_before, last)
    return replay


# ---- opening, attaching, saving and loading ----------------------------------------------------------
def header_of(search: Any, mode: str | None, population_size: int | None) -> dict:
    return {"format": FORMAT, "seed": search.seed, "space": describe_space(search._space),
            "direction": search._direction, "mode": mode, "population_size": population_size,
            "history_start": search._history.start_time, "created": time.time()}


def open_store(search: Any, path: Any, overwrite: bool, mode: str, size: int, seed: int | None):
    """(store, resuming): a checkpoint made for this search is adopted, else a new one is started."""
    store, header = CheckpointStore(path), header_of(search, mode, size)
    resuming = store.exists and not overwrite
    if resuming:
        adopt_header(search, store, header, seed)
    else:
        store.create(header)
    return store, resuming


def adopt_header(search: Any, store: CheckpointStore, header: dict, seed: int | None) -> None:
    """Check that `store` was made for this search, and take its seed and clock."""
    saved = store.header()
    difference = space_difference(saved["space"], header["space"])
    if difference is not None:
        raise ValueError(f"The checkpoint at {store.path} was made for a different search space: {difference}. "
                         f"Declare the same space to resume, or pass overwrite_checkpoint=True to start afresh.")
    for name in ("direction", "mode", "population_size"):
        if None not in (saved[name], header[name]) and saved[name] != header[name]:
            raise ValueError(f"The checkpoint at {store.path} was made with {name}={saved[name]!r}, this run has "
                             f"{name}={header[name]!r}; use the same to resume, or overwrite_checkpoint=True.")
    if seed is not None and int(seed) != saved["seed"]:
        warnings.warn(f"hopper_jax: resuming the checkpoint at {store.path}, which was made with "
                      f"seed={saved['seed']}; seed={seed} is ignored", stacklevel=4)
    search.seed = saved["seed"]
    search._history.clear()
    search._history.start_time = saved["history_start"]
    search._cache.clear()


def attach(search: Any, run: Any, store: CheckpointStore, interval: float, resuming: bool) -> None:
    """Resume `run` from `store`, or write what the search knows so far and the first snapshot."""
    run.store, run.checkpoint_interval = store, float(interval)
    if resuming:
        run.replay = resume(search, run, store)
    else:
        store.journal.append(existing_records(search))
        run.checkpoint()


def save_search(search: Any, path: Any, run: Any) -> str:
    """`Search.save`: a new checkpoint directory holding the search as it is (`run`: an idle Run)."""
    store = CheckpointStore(path)
    store.create(header_of(search, None, None))
    run.store = store
    store.journal.append(existing_records(search))
    run.checkpoint(finished=True)
    store.close()
    return store.path


def load_search(search: Any, path: Any, run: Any) -> None:
    """`Search.load`: restore a checkpoint directory into `search` (`run`: an idle Run)."""
    store = CheckpointStore(path)
    if not store.exists:
        raise FileNotFoundError(f"No hopper_jax checkpoint at {store.path} (it has no search.json)")
    adopt_header(search, store, header_of(search, None, None), None)
    search._direction = search._history.direction = store.header()["direction"]
    for records in resume(search, run, store).values():
        for record in records:
            restore_record(search, record)
    store.close()
