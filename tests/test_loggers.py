"""Loggers against the real libraries: the files they write are read back and checked."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from support import read_scalars

from hopper_jax.loggers import JSONLinesLogger, MLflowLogger, TensorBoardLogger, to_jsonable
from hopper_jax.search.callbacks import CandidateType, ParamInfo
from hopper_jax.search.history import ArraySummary


def drive(logger):
    """A short search as the hooks see it (minimising): steps 0-4, step 3 a duplicate; new bests at 0 and 2."""
    def info(step, kind=CandidateType.LOCAL_SAMPLING, **extra):
        return ParamInfo(kind, 1000.0 + step, finished_at=1000.5 + step, temperature=1.0 - step / 10, step=step,
                         **extra)

    logger.on_search_start(None)
    first = ParamInfo(CandidateType.INIT, 1000.0, finished_at=1000.25, temperature=None, step=0)
    logger.on_evaluate_start({"x": 1.0}, first)
    logger.on_evaluate_end({"x": 1.0, "opt": "adam"}, 5.0, first)
    logger.on_new_best({"x": 1.0, "opt": "adam"}, 5.0, first)
    logger.on_evaluate_end({"x": 2.0, "opt": "sgd"}, 7.0, info(1, CandidateType.RANDOM_SEEDING))
    best = {"x": np.float32(0.5), "opt": {"name": "momentum", "beta": 0.9}, "w": np.arange(3.0),
            "big": np.ones(500, np.float32)}
    logger.on_evaluate_end(best, 2.0, info(2))
    logger.on_new_best(best, 2.0, info(2))
    logger.on_duplicate_sampled({"x": 0.5}, info(3))
    logger.on_evaluate_pruned({"x": 0.1}, info(4, is_pruned=True))
    logger.on_evaluate_nan({"x": 0.2}, info(5, is_nan=True, error="returned NaN"))
    logger.on_search_end()  # no argument (PyHopper's TensorboardCallback wanted one and crashed)


def test_to_jsonable():
    assert to_jsonable({"a": np.int64(3), "b": (1.5, float("nan")), 2: np.bool_(True)}) == \
        {"a": 3, "b": [1.5, None], "2": True}
    assert to_jsonable(np.arange(4).reshape(2, 2)) == [[0, 1], [2, 3]]
    summary = to_jsonable(np.zeros(101), max_array_size=100)
    assert summary == {"shape": [101], "dtype": "float64", "mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0}
    assert to_jsonable(ArraySummary((5,), "int8", 1.0, 0.0, 1.0, 1.0))["shape"] == [5]
    assert to_jsonable(object).startswith("<class")
    import jax.numpy as jnp

    assert to_jsonable(jnp.float32(1.5)) == 1.5 and to_jsonable(jnp.ones(2)) == [1.0, 1.0]


def test_json_lines(tmp_path):
    path = tmp_path / "logs" / "search.jsonl"
    drive(JSONLinesLogger(path))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["search_start", "evaluation", "new_best", "evaluation",
                                                 "evaluation", "new_best", "duplicate", "evaluation",
                                                 "evaluation", "search_end"]
    first = lines[1]
    assert first == {"event": "evaluation", "status": "ok", "f": 5.0, "step": 0, "type": "init",
                     "temperature": None, "seconds": 0.25, "time": 1000.25,
                     "candidate": {"x": 1.0, "opt": "adam"}}
    best = lines[5]["candidate"]
    assert best["x"] == 0.5 and best["opt"] == {"name": "momentum", "beta": 0.9} and best["w"] == [0.0, 1.0, 2.0]
    assert best["big"]["shape"] == [500] and best["big"]["mean"] == 1.0  # large arrays: a summary
    assert [(line["status"], line["step"]) for line in lines if line["event"] == "evaluation"] == [
        ("ok", 0), ("ok", 1), ("ok", 2), ("pruned", 4), ("failed", 5)]
    assert lines[8]["error"] == "returned NaN" and lines[6] == {"event": "duplicate", "step": 3, "type": "local"}
    drive(JSONLinesLogger(path))  # a second search appends
    assert len(path.read_text().splitlines()) == 20


def test_tensorboard(tmp_path):
    logger = TensorBoardLogger(tmp_path / "tb")
    drive(logger)
    scalars = read_scalars(tmp_path / "tb")
    assert scalars["sampled_f"] == [(0, 5.0), (1, 7.0), (2, 2.0)]
    assert scalars["best_f"] == [(0, 5.0), (2, 2.0)]
    assert [step for step, _ in scalars["temperature"]] == [1, 2]  # the initial guess has none
    drive(logger)  # the writer is reopened for a second search
    assert len(read_scalars(tmp_path / "tb")["sampled_f"]) == 6


def test_mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 wants a database unless told otherwise
    from mlflow.tracking import MlflowClient

    logger = MLflowLogger("hopper_test", run_name="first", tracking_uri=tmp_path / "mlruns")
    drive(logger)
    assert logger.run_id is None  # ended
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    [run] = client.search_runs([client.get_experiment_by_name("hopper_test").experiment_id])
    assert run.info.run_name == "first" and run.info.status == "FINISHED"
    history = {key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
               for key in ("sampled_f", "best_f")}
    assert sorted(history["sampled_f"]) == [(0, 5.0), (1, 7.0), (2, 2.0)]
    assert sorted(history["best_f"]) == [(0, 5.0), (2, 2.0)]
    params = run.data.params
    assert params["x"] == "0.5" and params["opt/name"] == '"momentum"' and params["opt/beta"] == "0.9"
    assert params["w"] == "[0.0, 1.0, 2.0]" and json.loads(params["big"])["shape"] == [500]
    artifact = Path(client.download_artifacts(run.info.run_id, "best_params.json", str(tmp_path)))
    saved = json.loads(artifact.read_text())
    assert saved["best_f"] == 2.0 and saved["best"]["big"] == [1.0] * 500  # the artifact keeps it whole
    drive(MLflowLogger("hopper_test", tracking_uri=tmp_path / "mlruns"))  # a second search: a second run
    assert len(client.search_runs([run.info.experiment_id])) == 2


@pytest.mark.parametrize("make, module", [(lambda: TensorBoardLogger("x"), "tensorboardX"),
                                          (lambda: MLflowLogger(), "mlflow.tracking")])
def test_missing_library_says_how_to_install(make, module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r'pip install "hopper_jax\[loggers\]"'):
        make()
