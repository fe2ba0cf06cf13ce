"""Checkpoints of a search: what a snapshot holds, the journal records, and resuming from both.

A snapshot (Orbax, see persistence/store.py) holds the `SearchState` between two bookings of the run: the
core state, the best (arrays and Python objects), the queue of guesses, JAX mode's table of seen
fingerprints, the counters of the run, the pruner's state and, for a pool, the drawn candidates not yet
told (at most n_jobs); its frontier t is the first step not yet booked. Its size does not grow with the
history. The history and the duplicate cache are rebuilt from the journal; journal records of steps >= t
are replayed: the resumed search draws the same candidates from the same keys, and a candidate (or a JAX
generation) whose outcome is in the journal is not evaluated again. In-flight candidates (no record) are
evaluated again.

Journal records: one per Python-mode evaluation (the candidate as JSON), one per JAX-mode generation
(columns in base64: values of the objective, fingerprints, phases, temperatures, and the candidates' values
or, for leaves over `max_array_size` elements, their summaries; candidates can be drawn again from the seed
and the step), and one listing the duplicate cache when a search already knew candidates.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import cloudpickle
import jax
import numpy as np

from ..core.algorithm import HopperState
from ..core.seen import SeenTable
from ..evaluators.outcome import Outcome
from ..persistence import CheckpointStore, CorruptCheckpointWarning, from_json, pack, to_json, unpack
from .callbacks import CandidateType, ParamInfo
from .candidates import Encoded
from .history import FAILED, OK, STATUS_CODE, Generation, summarize_arrays
from .state import Best

FORMAT = 2  # version of the checkpoint layout


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
                   at: float, elapsed: float | None, max_array_size: int) -> dict:
    """One evaluation as JSON data; arrays over `max_array_size` elements are not kept (as in History).

    `at`: seconds since the history started; `elapsed`: seconds of the run's budget used so far.
    """
    return {"step": info.step, "key": key, "status": outcome.status, "f": f, "type": int(info.type),
            "temperature": info.temperature, "at": at, "elapsed": elapsed, "seconds": outcome.seconds,
            "error": info.error, "partial": getattr(outcome, "partial", None),
            "candidate": to_json(summarize_arrays(candidate, max_array_size))}


def generation_record(result: Any, kinds: np.ndarray, at: float, elapsed: float, leaves: Generation) -> dict:
    """One JAX-mode generation (its first `count` rows) as compact JSON data."""
    n = result.count
    return {"generation": result.first_step, "count": n, "at": at, "elapsed": elapsed, "seconds": result.seconds,
            "f": pack(result.f[:n]), "duplicate": pack(result.duplicate[:n]), "kinds": pack(kinds.astype(np.int8)),
            "temperature": pack(result.temperature[:n]), "keys": pack(result.keys[:n]),
            "leaves": [{"full": full, "data": pack(leaf)} for leaf, full in zip(leaves.leaves, leaves.full)]}


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


def restore_record(space: Any, state: Any, history: Any, record: dict) -> None:
    """Put a journal record into the history and the duplicate cache (no evaluation, no callbacks)."""
    if "cache" in record:
        state.seen.update(dict.fromkeys(record["cache"]))
    elif "generation" in record:
        restore_generation(space, history, record)
    else:
        history.append(from_json(record["candidate"]), record["f"], record_info(record, history.start_time),
                       record["status"], slim=False)
        if record["key"] is not None:
            state.seen[record["key"]] = None


def restore_generation(space: Any, history: Any, record: dict) -> None:
    """Put a generation record's rows (duplicates left out) into the history."""
    f, duplicate = unpack(record["f"]), unpack(record["duplicate"])
    rows = np.flatnonzero(~duplicate)
    if not len(rows):
        return
    failed = ~np.isfinite(f[rows])
    leaves = [unpack(leaf["data"])[rows] for leaf in record["leaves"]]
    generation = Generation(space, leaves, [leaf["full"] for leaf in record["leaves"]])
    errors = {i: ("returned NaN" if np.isnan(f[row]) else f"returned {f[row]}")
              for i, row in enumerate(rows) if not np.isfinite(f[row])}
    history.append_generation(generation, f[rows], np.where(failed, STATUS_CODE[FAILED], STATUS_CODE[OK]),
                              unpack(record["kinds"])[rows], unpack(record["temperature"])[rows].astype(np.float64),
                              record["generation"] + rows, history.start_time + record["at"],
                              record["seconds"] / max(record["count"], 1), errors)


class Replay:
    """Journal records of steps at or after a snapshot's frontier, handed out as the resumed run reaches them."""

    def __init__(self, space: Any, state: Any, history: Any, records: list[dict]):
        self.space, self.state, self.history = space, state, history
        self.by_step: dict[int, list[dict]] = {}
        for record in records:
            self.by_step.setdefault(record.get("step", record.get("generation")), []).append(record)

    def __bool__(self) -> bool:
        return bool(self.by_step)

    def waiting(self, step: int) -> bool:
        return step in self.by_step

    def outcome(self, info: ParamInfo, key: int) -> Outcome | None:
        """The outcome the journal holds for step `info.step` if it is this very candidate (cache `key`).

        Records of that step for another candidate (a runtime budget draws differently) go to the history.
        """
        records = self.by_step.pop(info.step, ())
        match = next((r for r in records if r.get("key") == key), None)
        for record in records:
            if record is not match:
                restore_record(self.space, self.state, self.history, record)
        if match is None:
            return None
        info.finished_at = self.history.start_time + match["at"]
        return record_outcome(match)

    def take(self, step: int) -> dict | None:
        """The generation record of `step` (other records of that step go to the history)."""
        match = None
        for record in self.by_step.pop(step, ()):
            if match is None and "generation" in record:
                match = record
            else:
                self.restore(record)
        return match

    @staticmethod
    def values(record: dict, size: int) -> np.ndarray:
        """A generation record's (size,) objective values; rows past its count are NaN."""
        f = np.full(size, np.nan)
        recorded = unpack(record["f"])
        f[: len(recorded)] = recorded
        return f

    def restore(self, record: dict) -> None:
        """A record the resumed run did not reach as it was (other candidates) goes to the history."""
        restore_record(self.space, self.state, self.history, record)

    def restore_rest(self, booking: Any) -> None:
        """Records the resumed run never reached go to the history as they are."""
        for step in sorted(self.by_step):
            for record in self.by_step.pop(step):
                restore_record(self.space, self.state, self.history, record)


def existing_records(search: Any) -> list[dict]:
    """What a search already knows, for a new journal: its history (without steps) and its cache."""
    history = search.history
    records = [{**journal_record(r["candidate"], r["f"], ParamInfo(r["type"], 0.0, temperature=r["temperature"],
                                                                   error=r["error"]),
                                 Outcome(r["f"], r["status"], r["error"], seconds=r["duration"] or 0.0), None,
                                 r["seconds"], None, history.max_array_size), "step": None}
               for r in history.records]
    seen = search.state.seen
    return records + ([{"cache": list(seen)}] if seen else [])


# ---- snapshots -------------------------------------------------------------------------------------
def snapshot(engine: Any, booking: Any, budget: Any, finished: bool, pending: list = (),
             rewind: int = 0) -> tuple[dict, dict]:
    """(array pytree, JSON meta) of the search now. `pending`: drawn, untold jobs (a pool's window);
    `rewind`: steps drawn but not booked that a resumed run draws again (JAX generations in flight)."""
    state = engine.state
    core = jax.device_get(state.core)
    blob = cloudpickle.dumps({"best": engine.best_candidate(), "objects": state.best.objects,
                              "queue": [(q.encoded, q.objects, q.overrides) for q in state.queue],
                              "pending": [_pending_entry(job) for job in pending]})
    tree = {"state": {name: list(v) if isinstance(v, tuple) else np.asarray(v) for name, v in core._asdict().items()},
            "best_values": [np.asarray(v) for v in engine.best_values()],
            "blob": np.frombuffer(blob, np.uint8)}
    if state.table is not None:
        tree["table"] = {"fingerprints": np.asarray(state.table.fingerprints), "occupied": np.asarray(state.table.occupied)}
    steps_done = state.steps_done - rewind
    frontier = min([job.step for job in pending], default=steps_done)
    meta = {"format": FORMAT, "step": frontier, "steps_done": steps_done, "best_f": state.best.f,
            "score": float(state.score), "draws": state.draws, "saved_at": time.time(),
            "initial_pending": state.initial_pending,
            "run": {"finished": finished, "budget_step": budget.step - rewind, "elapsed": budget.elapsed,
                    "candidate_seconds": budget.candidate_seconds, "stats": booking.stats.as_json()},
            "pruner": None if booking.pruner is None else booking.pruner.state_dict()}
    return tree, meta


def _pending_entry(job: Any) -> tuple:
    # a pool's jobs are one-row blocks (a sequential run has nothing pending at a snapshot)
    population = job.population if job.population is not None else job.block.population
    return (job.step, job.payload, job.info, job.encoded, job.values, job.key, jax.device_get(population))


def restore_state(engine: Any, tree: dict, meta: dict) -> list:
    """Put a snapshot's search-level state into the engine's `SearchState`; returns its pending entries."""
    state = engine.state
    core = {name: tuple(np.asarray(a) for a in v) if isinstance(v, list) else np.asarray(v)
            for name, v in tree["state"].items()}
    state.core = HopperState(**core)
    blob = cloudpickle.loads(np.asarray(tree["blob"], np.uint8).tobytes())
    state.best = Best(meta["best_f"], blob["best"], blob["objects"], tuple(np.asarray(v) for v in tree["best_values"]))
    state.score = np.float32(meta["score"])
    state.queue = [Encoded(*entry) for entry in blob["queue"]]
    state.initial = state.queue[0] if meta["initial_pending"] else None
    state.steps_done, state.draws = meta["steps_done"], meta["draws"]
    if "table" in tree:
        state.table = SeenTable(np.asarray(tree["table"]["fingerprints"], np.uint32),
                                np.asarray(tree["table"]["occupied"], bool))
    return blob["pending"]


def restore_run(booking: Any, budget: Any, meta: dict) -> None:
    """Continue the saved run's counters: its budget is the one being used up (a finished run stays done)."""
    from .booking import RunStats

    saved = meta["run"]
    budget.step, budget.elapsed_before = saved["budget_step"], saved["elapsed"]
    budget.candidate_seconds = saved["candidate_seconds"]
    booking.stats = RunStats.from_json(saved["stats"])
    if booking.pruner is not None and meta.get("pruner") is not None:
        booking.pruner.load_state_dict(meta["pruner"])


def resume(engine: Any, history: Any, store: CheckpointStore, booking: Any = None, budget: Any = None):
    """Load `store` into the engine's state (and `booking`/`budget`); returns (Replay, pending entries)."""
    restored = store.restore()
    records = store.journal.read()
    frontier, pending = 0, []
    if restored is None:
        if records:
            warnings.warn(f"hopper_jax: no intact snapshot in {store.path}; replaying the whole journal",
                          CorruptCheckpointWarning, stacklevel=3)
    else:
        frontier, tree, meta = restored
        pending = restore_state(engine, tree, meta)
        if booking is not None:
            restore_run(booking, budget, meta)
    later = []
    for record in records:
        step = record.get("step", record.get("generation"))
        if step is None or step < frontier:
            restore_record(engine.space, engine.state, history, record)
        else:
            later.append(record)
    if budget is not None:
        last = max((r["elapsed"] for r in later if r.get("elapsed") is not None), default=0.0)
        budget.elapsed_before = max(budget.elapsed_before, last)
    return Replay(engine.space, engine.state, history, later), pending


# ---- opening, saving and loading ---------------------------------------------------------------------
def header_of(search: Any, mode: str | None, population_size: int | None) -> dict:
    return {"format": FORMAT, "seed": search.state.seed, "space": describe_space(search.space),
            "direction": search.state.direction, "mode": mode, "population_size": population_size,
            "history_start": search.history.start_time, "created": time.time()}


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
    if saved.get("format") != FORMAT:
        raise ValueError(f"The checkpoint at {store.path} was written by another version of hopper_jax (format "
                         f"{saved.get('format')}, this one reads {FORMAT}); pass overwrite_checkpoint=True to "
                         f"start afresh.")
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
    search.engine.seed(saved["seed"])
    search.history.clear()
    search.history.start_time = saved["history_start"]
    search.state.seen.clear()


def start_journal(search: Any, store: CheckpointStore) -> None:
    """A new checkpoint: write what the search knows so far into its journal."""
    store.journal.append(existing_records(search))


def save_search(search: Any, path: Any, booking: Any, budget: Any) -> str:
    """`Search.save`: a new checkpoint directory holding the search as it is (`booking`: an idle run's)."""
    store = CheckpointStore(path)
    store.create(header_of(search, None, None))
    start_journal(search, store)
    store.journal.sync()
    tree, meta = snapshot(search.engine, booking, budget, finished=True)
    store.save(meta["step"], tree, meta)
    store.close()
    return store.path


def load_search(search: Any, path: Any) -> None:
    """`Search.load`: restore a checkpoint directory into `search`."""
    store = CheckpointStore(path)
    if not store.exists:
        raise FileNotFoundError(f"No hopper_jax checkpoint at {store.path} (it has no search.json)")
    adopt_header(search, store, header_of(search, None, None), None)
    search.state.direction = search.history.direction = store.header()["direction"]
    replay, _ = resume(search.engine, search.history, store)
    replay.restore_rest(None)
    store.close()
