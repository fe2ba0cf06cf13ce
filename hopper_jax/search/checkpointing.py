"""Checkpoints of a search: what a snapshot holds, opening a checkpoint directory, and resuming from it.

A snapshot (Orbax, see persistence/store.py) holds the `SearchState` between two bookings of the run: the
core state, the best (arrays and Python-side values), the queue of guesses, JAX mode's table of seen
fingerprints, the counters of the run, the pruner's state and, for a pool, the drawn candidates not yet
told (at most n_jobs); its frontier t is the first step not yet booked. Its size does not grow with the
history. The history and the duplicate cache are rebuilt from the journal (journal_records.py); journal
records of steps >= t are replayed: the resumed search draws the same candidates from the same keys, and a
candidate (or a JAX generation) whose outcome is in the journal is not evaluated again. In-flight
candidates (no record) are evaluated again.

Everything is data (JSON and arrays): the space's own objects (a choice's options, constants) are written
as references to the declaration, and anything else that would need pickling (a `custom()` value that is
not JSON data) is refused unless the user passes `allow_pickle=True`, both to write and to read.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from typing import Any

import jax
import numpy as np

from ..core.algorithm import HopperState, Population
from ..core.seen import SeenTable
from ..persistence import CheckpointStore, Codec, CorruptCheckpointWarning
from ..persistence.store import numbered_checkpoint
from ..space import declarations as d
from ..space.compile import contains_parameter
from .callbacks import CandidateType, ParamInfo
from .candidates import Encoded
from .journal_records import Replay, Restorer, existing_records, step_of, well_formed
from .state import Best

FORMAT = 3  # version of the checkpoint layout (3: data only, no pickled state)


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


# ---- the codec: a space's own objects by reference ----------------------------------------------------
def _is_data(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str | np.generic)


def codec_for(space: Any, allow_pickle: bool = False) -> Codec:
    """A Codec that writes the objects `space` declares (choice options, constants) as references."""
    references: dict[int, str] = {}
    objects: dict[str, Any] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict) and not isinstance(node, d.Parameter):
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}/{i}")
        elif isinstance(node, d.ChoiceParameter):
            for i, option in enumerate(node.options):
                if contains_parameter(option):
                    walk(option, f"{path}#{i}")
                elif not _is_data(option):
                    references[id(option)], objects[f"{path}#{i}"] = f"{path}#{i}", option
        elif not isinstance(node, d.Parameter) and not _is_data(node):
            references[id(node)], objects[path] = path, node

    walk(space.template, "")
    return Codec(references, objects, allow_pickle)


def check_initial_values(space: Any, codec: Codec) -> None:
    """Fail before the first evaluation when the space's Python-side values cannot be checkpointed."""
    try:
        codec.encode(space.initial_objects())
    except ValueError as error:
        raise type(error)(f"checkpoint_path: {error}") from None


# ---- snapshots -------------------------------------------------------------------------------------
def snapshot(engine: Any, booking: Any, budget: Any, finished: bool, codec: Codec, pending: list = (),
             rewind: int = 0) -> tuple[dict, dict]:
    """(array pytree, JSON meta) of the search now. `pending`: drawn, untold jobs (a pool's window);
    `rewind`: steps drawn but not booked that a resumed run draws again (JAX generations in flight)."""
    state = engine.state
    core = jax.device_get(state.core)
    # Orbax refuses empty arrays: an empty field (no continuous block) is left out and made afresh on restore
    tree = {"state": {name: list(v) if isinstance(v, tuple) else np.asarray(v) for name, v in core._asdict().items()
                      if isinstance(v, tuple) or np.size(v)},
            "best_values": [np.asarray(v) for v in engine.best_values()]}
    if state.table is not None:
        tree["table"] = {"fingerprints": np.asarray(state.table.fingerprints),
                         "occupied": np.asarray(state.table.occupied)}
    steps_done = state.steps_done - rewind
    frontier = min([job.step for job in pending], default=steps_done)
    python_side = {"best": engine.best_candidate(), "objects": state.best.objects,
                   "queue": [(q.encoded, q.objects, q.overrides) for q in state.queue],
                   "pending": [_pending_entry(job) for job in pending]}
    meta = {"format": FORMAT, "step": frontier, "steps_done": steps_done, "best_f": state.best.f,
            "score": float(state.score), "draws": state.draws, "saved_at": time.time(),
            "initial_pending": state.initial_pending, "values": codec.encode(python_side),
            "run": {"finished": finished, "budget_step": budget.step - rewind, "elapsed": budget.elapsed,
                    "candidate_seconds": budget.candidate_seconds, "warmup": budget.warmup,
                    "stats": booking.stats.as_json()},
            "pruner": None if booking.pruner is None else booking.pruner.state_dict()}
    return tree, meta


def _pending_entry(job: Any) -> tuple:
    # a pool's jobs are one-row blocks (a sequential run has nothing pending at a snapshot)
    population = job.population if job.population is not None else job.block.population
    info = dataclasses.asdict(job.info)
    info["type"] = int(info["type"])
    return (job.step, job.payload, info, (job.encoded.encoded, job.encoded.objects, job.encoded.overrides),
            job.values, job.key, jax.device_get(population)._asdict())


def _resumed_entry(entry: tuple) -> tuple:
    step, payload, info, encoded, values, key, population = entry
    info = ParamInfo(**{**info, "type": CandidateType(info["type"])})
    return step, payload, info, Encoded(*encoded), values, key, Population(**population)


def restore_state(engine: Any, tree: dict, meta: dict, codec: Codec) -> list:
    """Put a snapshot's search-level state into the engine's `SearchState`; returns its pending entries."""
    state = engine.state
    python_side = codec.decode(meta["values"])
    core = {name: tuple(np.asarray(a) for a in v) if isinstance(v, list) else np.asarray(v)
            for name, v in tree["state"].items()}
    missing = set(HopperState._fields) - set(core)  # empty fields, and fields added since the snapshot: afresh
    fresh = engine.algo.init() if missing else None
    state.core = HopperState(**core, **{name: getattr(fresh, name) for name in missing})
    state.best = Best(meta["best_f"], python_side["best"], python_side["objects"],
                      tuple(np.asarray(v) for v in tree["best_values"]))
    state.score = engine.space.score_dtype(meta["score"])
    state.queue = [Encoded(*entry) for entry in python_side["queue"]]
    state.initial = state.queue[0] if meta["initial_pending"] else None
    state.steps_done, state.draws = meta["steps_done"], meta["draws"]
    if "table" in tree:
        state.table = SeenTable(np.asarray(tree["table"]["fingerprints"], np.uint32),
                                np.asarray(tree["table"]["occupied"], bool))
    return [_resumed_entry(entry) for entry in python_side["pending"]]


def restore_run(booking: Any, budget: Any, meta: dict) -> None:
    """Continue the saved run's counters: its budget is the one being used up (a finished run stays done)."""
    from .booking import RunStats

    saved = meta["run"]
    budget.step, budget.elapsed_before = saved["budget_step"], saved["elapsed"]
    budget.candidate_seconds = saved["candidate_seconds"]
    budget.warmup = saved.get("warmup", 0.0)  # checkpoints before 2026-12-05 counted from the start
    booking.stats = RunStats.from_json(saved["stats"])
    if booking.pruner is not None and meta.get("pruner") is not None:
        booking.pruner.load_state_dict(meta["pruner"])


def resume(engine: Any, history: Any, store: CheckpointStore, booking: Any = None, budget: Any = None,
           pruner: Any = None):
    """Load `store` into the engine's state (and `booking`/`budget`, or just `pruner`); returns (Replay, pending
    entries).

    Damage is reported with what it cost: journal lines that are not intact records (skipped), a journal
    shorter than the snapshot says it was (records lost), no intact snapshot (the journal is replayed)."""
    restored = store.restore()
    records = store.journal.read()
    damaged = len(store.journal.damaged) + sum(not well_formed(record) for record in records)
    records = [record for record in records if well_formed(record)]
    restore = Restorer(engine.space, engine.state, history, store.codec)
    frontier, pending = 0, []
    if restored is None:
        if records:
            warnings.warn(f"hopper_jax: no intact snapshot in {store.path}; replaying the whole journal "
                          f"({len(records)} records)", CorruptCheckpointWarning, stacklevel=3)
    else:
        frontier, tree, meta = restored
        pending = restore_state(engine, tree, meta, store.codec)
        if booking is not None:
            restore_run(booking, budget, meta)
        elif pruner is not None and meta.get("pruner") is not None:
            pruner.load_state_dict(meta["pruner"])
        lost = meta.get("journal_records", 0) - store.journal.count
        if lost > 0:
            warnings.warn(f"hopper_jax: the journal in {store.path} has {store.journal.count} lines but held "
                          f"{meta['journal_records']} when the snapshot of step {frontier} was taken: {lost} "
                          f"evaluation records were lost (deleted or truncated journal). The search state is "
                          f"intact and resumes; the history misses those evaluations.",
                          CorruptCheckpointWarning, stacklevel=3)
    later = []
    for record in records:
        step = step_of(record)
        if step is None or step < frontier:
            restore(record)
        else:
            later.append(record)
    damaged += restore.damaged
    if damaged:
        warnings.warn(f"hopper_jax: skipped {damaged} damaged journal record(s) in {store.path}: those "
                      f"evaluations are missing from the history (any after the snapshot's step {frontier} are "
                      f"evaluated again).", CorruptCheckpointWarning, stacklevel=3)
    if budget is not None:
        last = max((r["elapsed"] for r in later if isinstance(r.get("elapsed"), int | float)), default=0.0)
        budget.elapsed_before = max(budget.elapsed_before, last)
    return Replay(restore, later), pending


# ---- opening, saving and loading ---------------------------------------------------------------------
def header_of(search: Any, mode: str | None, population_size: int | None) -> dict:
    return {"format": FORMAT, "seed": search.state.seed, "space": describe_space(search.space),
            "direction": search.state.direction, "mode": mode, "population_size": population_size,
            "history_start": search.history.start_time, "created": time.time()}


def open_store(search: Any, path: Any, overwrite: bool, mode: str, size: int, seed: int | None,
               allow_pickle: bool = False):
    """(store, resuming): a checkpoint made for this search is adopted, else a new one is started. The
    store is locked (one writer) until it is closed."""
    codec = codec_for(search.space, allow_pickle)
    check_initial_values(search.space, codec)
    store, header = CheckpointStore(path, codec), header_of(search, mode, size)
    store.lock()
    try:
        saved = None if overwrite else store.read_header()
        if saved is not None:
            adopt_header(search, store, saved, header, seed)
        else:
            store.create(header)
    except BaseException:
        store.close()
        raise
    return store, saved is not None


def adopt_header(search: Any, store: CheckpointStore, saved: dict, header: dict, seed: int | None) -> None:
    """Check that the checkpoint (its header `saved`) was made for this search, and take its seed and clock."""
    if saved.get("format") != FORMAT:
        raise ValueError(f"The checkpoint at {store.path} was written by another version of hopper_jax (format "
                         f"{saved.get('format')}, this one reads {FORMAT}); pass overwrite_checkpoint=True to "
                         f"start afresh.")
    difference = space_difference(saved["space"], header["space"])
    if difference is not None:
        raise ValueError(f"The checkpoint at {store.path} was made for a different search space: {difference}. "
                         f"Declare the same space to resume, or pass overwrite_checkpoint=True to start afresh.")
    for name in ("direction", "mode", "population_size"):
        if None not in (saved.get(name), header[name]) and saved[name] != header[name]:
            raise ValueError(f"The checkpoint at {store.path} was made with {name}={saved[name]!r}, this run has "
                             f"{name}={header[name]!r}; use the same to resume, or overwrite_checkpoint=True.")
    if seed is not None and int(seed) != saved["seed"]:
        warnings.warn(f"hopper_jax: resuming the checkpoint at {store.path}, which was made with "
                      f"seed={saved['seed']}; seed={seed} is ignored", stacklevel=4)
    search.engine.seed(saved["seed"])
    search.history.clear()
    search.history.start_time = saved.get("history_start", search.history.start_time)
    search.state.seen.clear()


def start_journal(search: Any, store: CheckpointStore) -> None:
    """A new checkpoint: write what the search knows so far into its journal."""
    store.journal.append(existing_records(search, store.codec))


def save_search(search: Any, path: Any, booking: Any, budget: Any, allow_pickle: bool = False) -> str:
    """`Search.save`: a new checkpoint directory holding the search as it is (`booking`: an idle run's). An
    existing directory that is not a checkpoint gets a numbered one inside it, as in PyHopper."""
    if os.path.isdir(os.path.expanduser(path)) and os.listdir(os.path.expanduser(path)):
        path = numbered_checkpoint(path)  # an existing folder (not a checkpoint): a numbered checkpoint inside
    store = CheckpointStore(path, codec_for(search.space, allow_pickle))
    store.lock()
    try:
        store.create(header_of(search, None, None))
        start_journal(search, store)
        store.journal.sync()
        tree, meta = snapshot(search.engine, booking, budget, True, store.codec)
        store.save(meta["step"], tree, meta)
    finally:
        store.close()
    return store.path


def load_search(search: Any, path: Any, allow_pickle: bool = False, pruner: Any = None) -> None:
    """`Search.load`: restore a checkpoint directory into `search` (and its pruner's state into `pruner`)."""
    if os.path.isfile(os.path.expanduser(path)):
        raise ValueError(f"{path} is a file; hopper_jax checkpoints are directories (written by run(checkpoint_path="
                         f"...) or save). A PyHopper checkpoint file is a pickle: hopper_jax.utils.load_dict(path, "
                         f"allow_pickle=True) reads its contents, if you trust it.")
    store = CheckpointStore(path, codec_for(search.space, allow_pickle))
    try:
        saved = store.read_header()
        if saved is None:
            raise FileNotFoundError(f"No hopper_jax checkpoint at {store.path} (it has no search.json)")
        adopt_header(search, store, saved, header_of(search, None, None), None)
        search.state.direction = search.history.direction = saved["direction"]
        replay, _ = resume(search.engine, search.history, store, pruner=pruner)
        replay.restore_rest()
    finally:
        store.close()
