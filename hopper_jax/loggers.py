"""Built-in callbacks that log a search: JSON lines, TensorBoard (tensorboardX) and MLflow.

The libraries are imported when a logger is created (pip install "hopper_jax[loggers]"). Every value is
logged at the candidate's search step (`ParamInfo.step`: duplicates count, so steps may skip, and with
worker processes they arrive in completion order). Candidates are written as JSON: numbers, strings and
lists as they are, arrays with at most `max_array_size` elements as nested lists, larger ones as a summary
{"shape", "dtype", "mean", "std", "min", "max"}, NaN and infinities as null, anything else as its repr.
"""

from __future__ import annotations

import importlib
import itertools
import json
import math
import os
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .search.callbacks import Callback, ParamInfo
from .search.history import PHASES, ArraySummary

MISSING = '{name} needs {module}: pip install "hopper_jax[loggers]"'
_WRITERS = itertools.count()  # event files opened in the same second must not share a name


def _require(module: str, name: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(MISSING.format(name=name, module=module.split(".")[0])) from error


def to_jsonable(value: Any, max_array_size: int = 100) -> Any:
    """`value` as plain JSON data (see the module docstring for arrays and non-finite floats)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), max_array_size)
    if isinstance(value, ArraySummary):
        return to_jsonable(value.as_dict(), max_array_size)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, max_array_size) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v, max_array_size) for v in value]
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy or JAX arrays
        array = np.asarray(value)
        if array.size > max_array_size:
            return to_jsonable(ArraySummary.of(array).as_dict(), max_array_size)
        return to_jsonable(array.tolist(), max_array_size)
    return repr(value)


def _evaluation(info: ParamInfo) -> dict[str, Any]:
    finished = info.finished_at or time.time()
    return {"step": info.step, "type": PHASES[info.type], "temperature": info.temperature,
            "seconds": max(finished - info.sampled_at, 0.0), "time": finished}


class JSONLinesLogger(Callback):
    """Appends one JSON object per line to `path`: events search_start, evaluation (status ok/pruned/failed,
    f, step, type, temperature, seconds, time, candidate, error), new_best, duplicate and search_end.

    Each line is flushed when written, so the file can be followed while the search runs.
    """

    def __init__(self, path: str | os.PathLike, max_array_size: int = 100):
        self.path, self.max_array_size = Path(path), int(max_array_size)
        self._file: TextIO | None = None

    def _write(self, event: str, **fields: Any) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in on_search_end
        line = {"event": event, **{k: to_jsonable(v, self.max_array_size) for k, v in fields.items()}}
        self._file.write(json.dumps(line, allow_nan=False) + "\n")
        self._file.flush()

    def on_search_start(self, search: Any) -> None:
        self._write("search_start", time=time.time())

    def on_evaluate_end(self, candidate: Any, f: float, info: ParamInfo) -> None:
        self._write("evaluation", status="ok", f=f, **_evaluation(info), candidate=candidate)

    def on_evaluate_pruned(self, candidate: Any, info: ParamInfo) -> None:
        self._write("evaluation", status="pruned", f=None, **_evaluation(info), candidate=candidate)

    def on_evaluate_nan(self, candidate: Any, info: ParamInfo) -> None:
        self._write("evaluation", status="failed", f=None, **_evaluation(info), candidate=candidate,
                    error=info.error)

    def on_new_best(self, new_best: Any, f: float, info: ParamInfo) -> None:
        self._write("new_best", step=info.step, f=f, candidate=new_best)

    def on_duplicate_sampled(self, candidate: Any, info: ParamInfo) -> None:
        self._write("duplicate", step=info.step, type=PHASES[info.type])

    def on_search_end(self) -> None:
        self._write("search_end", time=time.time())
        self._file.close()
        self._file = None


class TensorBoardLogger(Callback):
    """Scalars `sampled_f` (every successful evaluation), `best_f` (each new best) and `temperature`, at the
    candidate's search step, in a tensorboardX event file under `logdir` (None: runs/<date>_<host><comment>).

    Each search writes its own event file (closed at its end); TensorBoard shows the files of a directory
    as one run.
    """

    def __init__(self, logdir: str | os.PathLike | None = None, comment: str = "", flush_secs: int = 5):
        self._tensorboardx = _require("tensorboardX", "TensorBoardLogger")
        self.logdir = None if logdir is None else str(logdir)
        self.comment, self.flush_secs = comment, flush_secs
        self._writer: Any = None

    @property
    def writer(self) -> Any:
        """The open `tensorboardX.SummaryWriter` (created at the first event of each search)."""
        if self._writer is None:
            suffix = f".{os.getpid()}.{next(_WRITERS)}"
            self._writer = self._tensorboardx.SummaryWriter(self.logdir, comment=self.comment,
                                                            flush_secs=self.flush_secs, filename_suffix=suffix)
            self.logdir = self._writer.logdir
        return self._writer

    def on_search_start(self, search: Any) -> None:
        self.writer  # noqa: B018 - opens the event file

    def on_evaluate_end(self, candidate: Any, f: float, info: ParamInfo) -> None:
        self.writer.add_scalar("sampled_f", f, info.step)
        if info.temperature is not None:
            self.writer.add_scalar("temperature", info.temperature, info.step)

    def on_new_best(self, new_best: Any, f: float, info: ParamInfo) -> None:
        self.writer.add_scalar("best_f", f, info.step)

    def on_search_end(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _flat_params(candidate: Any, prefix: str = "") -> dict[str, str]:
    """MLflow params (strings of at most 6000 characters) for each leaf of a (nested) candidate dict."""
    if not isinstance(candidate, dict):
        return {prefix or "candidate": json.dumps(to_jsonable(candidate))[:6000]}
    params: dict[str, str] = {}
    for key, value in candidate.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        params.update(_flat_params(value, name) if isinstance(value, dict) else
                      {name: json.dumps(to_jsonable(value))[:6000]})
    return params


class MLflowLogger(Callback):
    """One MLflow run per search run: metrics `sampled_f` and `best_f` at each step; at the end the best
    candidate's parameters as run params and as the artifact `best_params.json`, with metric `best_f`.

    tracking_uri: None uses MLflow's own setting (MLFLOW_TRACKING_URI, else MLflow 3's default
      `sqlite:///mlflow.db` in the working directory); a `pathlib.Path` or `file:` URI is a local file store
      (MLflow >= 3 wants MLFLOW_ALLOW_FILE_STORE=true for it).
    The run is created at search start (or the first event); `run_id` names it.
    """

    def __init__(self, experiment_name: str = "hopper_jax", run_name: str | None = None,
                 tracking_uri: str | os.PathLike | None = None):
        self._tracking = _require("mlflow.tracking", "MLflowLogger")
        if isinstance(tracking_uri, os.PathLike):
            tracking_uri = Path(tracking_uri).resolve().as_uri()
        self.experiment_name, self.run_name, self.tracking_uri = experiment_name, run_name, tracking_uri
        self.client: Any = None
        self.run_id: str | None = None
        self._best: tuple[Any, float] | None = None

    def _run(self) -> str:
        if self.run_id is None:
            self.client = self._tracking.MlflowClient(tracking_uri=self.tracking_uri)
            experiment = self.client.get_experiment_by_name(self.experiment_name)
            experiment_id = (experiment.experiment_id if experiment is not None
                             else self.client.create_experiment(self.experiment_name))
            self.run_id = self.client.create_run(experiment_id, run_name=self.run_name).info.run_id
            self._best = None
        return self.run_id

    def on_search_start(self, search: Any) -> None:
        self._run()

    def on_evaluate_end(self, candidate: Any, f: float, info: ParamInfo) -> None:
        run_id = self._run()
        self.client.log_metric(run_id, "sampled_f", f, step=info.step)

    def on_new_best(self, new_best: Any, f: float, info: ParamInfo) -> None:
        run_id = self._run()
        self.client.log_metric(run_id, "best_f", f, step=info.step)
        self._best = (new_best, f)

    def on_search_end(self) -> None:
        run_id = self._run()
        if self._best is not None:
            best, f = self._best
            entities = importlib.import_module("mlflow.entities")
            params = [entities.Param(k, v) for k, v in _flat_params(best).items()]
            for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
                self.client.log_batch(run_id, params=params[start:start + 100])
            self.client.log_dict(run_id, {"best_f": to_jsonable(f), "best": to_jsonable(best, 10_000)},
                                 "best_params.json")
        self.client.set_terminated(run_id, "FINISHED")
        self.run_id = None


__all__ = ["JSONLinesLogger", "MLflowLogger", "TensorBoardLogger", "to_jsonable"]
