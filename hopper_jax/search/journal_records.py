"""Journal records of a search: writing them, checking them, and putting them back (history, replay).

Records: one per Python-mode evaluation (the candidate as JSON data), one per JAX-mode generation (columns
in base64: values of the objective, fingerprints, phases, temperatures, and the candidates' values or, for
leaves over `max_array_size` elements, their summaries; candidates can be drawn again from the seed and the
step), and one listing the duplicate cache when a search already knew candidates. A record that is not
well formed is skipped and counted, never half-applied.
"""

from __future__ import annotations

import math

from typing import Any

import numpy as np

from ..evaluators.outcome import Outcome
from ..persistence import Codec, pack, unpack
from ..persistence.codec import PickleNotAllowed
from .callbacks import CandidateType, ParamInfo
from .history import FAILED, OK, STATUS_CODE, Generation, summarize_arrays

#: Keys every record of a kind has (a record missing one is damaged).
CANDIDATE_KEYS = frozenset({"step", "key", "status", "f", "type", "temperature", "at", "elapsed", "seconds", "error",
                            "candidate"})
GENERATION_KEYS = frozenset({"generation", "count", "at", "elapsed", "seconds", "f", "duplicate", "kinds",
                             "temperature", "keys", "leaves"})


def journal_record(candidate: Any, f: float | None, info: ParamInfo, outcome: Outcome, key: int | None,
                   at: float, elapsed: float | None, max_array_size: int, codec: Codec) -> dict:
    """One evaluation as JSON data; arrays over `max_array_size` elements are not kept (as in History).

    `at`: seconds since the history started; `elapsed`: seconds of the run's budget used so far.
    """
    f = f if f is None or math.isfinite(f) else repr(float(f))  # strict JSON has no infinity: "inf" / "-inf"
    return {"step": info.step, "key": key, "status": outcome.status, "f": f, "type": int(info.type),
            "temperature": info.temperature, "at": at, "elapsed": elapsed, "seconds": outcome.seconds,
            "error": info.error, "partial": getattr(outcome, "partial", None),
            "candidate": codec.encode(summarize_arrays(candidate, max_array_size))}


def generation_record(result: Any, kinds: np.ndarray, at: float, elapsed: float, leaves: Generation) -> dict:
    """One JAX-mode generation (its first `count` rows) as compact JSON data."""
    n = result.count
    return {"generation": result.first_step, "count": n, "at": at, "elapsed": elapsed, "seconds": result.seconds,
            "f": pack(result.f[:n]), "duplicate": pack(result.duplicate[:n]), "kinds": pack(kinds.astype(np.int8)),
            "temperature": pack(result.temperature[:n]), "keys": pack(result.keys[:n]),
            "leaves": [{"full": full, "data": pack(leaf)} for leaf, full in zip(leaves.leaves, leaves.full)]}


def step_of(record: dict) -> int | None:
    """The step a record belongs to (a generation's first), None for records of an earlier search."""
    return record.get("step", record.get("generation"))


def well_formed(record: dict) -> bool:
    """True when `record` has every key of its kind (see CANDIDATE_KEYS / GENERATION_KEYS)."""
    if "cache" in record:
        return isinstance(record["cache"], list)
    if "generation" in record:
        return GENERATION_KEYS <= record.keys() and isinstance(record["generation"], int)
    return CANDIDATE_KEYS <= record.keys() and (record["step"] is None or isinstance(record["step"], int))


def record_info(record: dict, start_time: float) -> ParamInfo:
    finished = start_time + record["at"]
    return ParamInfo(CandidateType(record["type"]), finished - record["seconds"], finished,
                     record["temperature"], record["step"] if record["step"] is not None else 0,
                     error=record["error"])


def _value(f: float | str | None) -> float | None:
    """A journal's objective value: a number, "inf" / "-inf", or None (failed or pruned)."""
    return None if f is None else float(f)


def record_outcome(record: dict) -> Outcome:
    """The outcome a journal record holds, flagged `replayed` (it is in the journal already)."""
    outcome = Outcome(_value(record["f"]), record["status"], record["error"], seconds=record["seconds"])
    outcome.replayed = True
    if record.get("partial") is not None:
        outcome.partial = list(record["partial"])
    return outcome


class Restorer:
    """Puts records into a search's history and duplicate cache (no evaluation, no callbacks), counting
    the ones that turn out damaged instead of failing the resume on them."""

    def __init__(self, space: Any, state: Any, history: Any, codec: Codec):
        self.space, self.state, self.history, self.codec = space, state, history, codec
        self.damaged = 0

    def __call__(self, record: dict) -> None:
        try:
            if "cache" in record:
                self.state.seen.update(dict.fromkeys(record["cache"]))
            elif "generation" in record:
                self._generation(record)
            else:
                candidate = self.codec.decode(record["candidate"])
                self.history.append(candidate, _value(record["f"]), record_info(record, self.history.start_time),
                                    record["status"], slim=False)
                if record["key"] is not None:
                    self.state.seen[record["key"]] = None
        except PickleNotAllowed:
            raise
        except (KeyError, TypeError, ValueError, IndexError):
            self.damaged += 1

    def _generation(self, record: dict) -> None:
        """A generation record's rows (duplicates left out) into the history."""
        f, duplicate = unpack(record["f"]), unpack(record["duplicate"])
        kinds, temperature = unpack(record["kinds"]), unpack(record["temperature"]).astype(np.float64)
        leaves = [unpack(leaf["data"]) for leaf in record["leaves"]]
        rows = np.flatnonzero(~duplicate)
        if not len(rows):
            return
        failed = np.isnan(f[rows])  # infinities are values
        generation = Generation(self.space, [leaf[rows] for leaf in leaves],
                                [leaf["full"] for leaf in record["leaves"]])
        errors = {i: "returned NaN" for i in np.flatnonzero(failed)}
        self.history.append_generation(generation, f[rows], np.where(failed, STATUS_CODE[FAILED], STATUS_CODE[OK]),
                                       kinds[rows], temperature[rows], record["generation"] + rows,
                                       self.history.start_time + record["at"],
                                       record["seconds"] / max(record["count"], 1), errors)


class Replay:
    """Journal records of steps at or after a snapshot's frontier, handed out as the resumed run reaches them."""

    def __init__(self, restore: Restorer, records: list[dict]):
        self.restore = restore  # a record the resumed run did not reach as it was goes to the history
        self.by_step: dict[int, list[dict]] = {}
        for record in records:
            self.by_step.setdefault(step_of(record), []).append(record)

    def __bool__(self) -> bool:
        return bool(self.by_step)

    def waiting(self, step: int) -> bool:
        return step in self.by_step

    def outcome(self, info: ParamInfo, key: int) -> Outcome | None:
        """The outcome the journal holds for step `info.step` if it is this very candidate (cache `key`).

        Records of that step for another candidate (a runtime budget draws differently) go to the history.
        """
        records = self.by_step.pop(info.step, ())
        match = next((r for r in records if r.get("key") == key and "generation" not in r), None)
        for record in records:
            if record is not match:
                self.restore(record)
        if match is None:
            return None
        info.finished_at = self.restore.history.start_time + match["at"]
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

    def restore_rest(self, booking: Any = None) -> None:
        """Records the resumed run never reached go to the history as they are."""
        for step in sorted(self.by_step):
            for record in self.by_step.pop(step):
                self.restore(record)


def existing_records(search: Any, codec: Codec) -> list[dict]:
    """What a search already knows, for a new journal: its history (without steps) and its cache."""
    history = search.history
    records = [{**journal_record(r["candidate"], r["f"], ParamInfo(r["type"], 0.0, temperature=r["temperature"],
                                                                   error=r["error"]),
                                 Outcome(r["f"], r["status"], r["error"], seconds=r["duration"] or 0.0), None,
                                 r["seconds"], None, history.max_array_size, codec), "step": None}
               for r in history.records]
    seen = search.state.seen
    return records + ([{"cache": list(seen)}] if seen else [])
