"""History keeps every evaluation, with a bounded policy for huge arrays."""

import numpy as np
import pytest

from hopper_jax.search.callbacks import Callback, CallbackList, CandidateType, ParamInfo
from hopper_jax.search.history import FAILED, OK, PRUNED, ArraySummary, History


def info(kind=CandidateType.LOCAL_SAMPLING, temperature=0.5, step=0, took=None):
    if took is None:
        return ParamInfo(kind, 0.0, finished_at=None, temperature=temperature, step=step)
    return ParamInfo(kind, 100.0, finished_at=100.0 + took, temperature=temperature, step=step)


def small_history():
    history = History("min")
    history.append({"lr": 0.1, "opt": "adam"}, 3.0, info(CandidateType.INIT, None, 0, took=1.0))
    history.append({"lr": 0.2, "opt": "sgd"}, 1.0, info(CandidateType.RANDOM_SEEDING, 1.0, 1, took=2.0))
    history.append({"lr": 0.3, "opt": "sgd"}, None, info(CandidateType.RANDOM_SEEDING, 0.9, 2, took=4.0), FAILED)
    history.append({"lr": 0.4, "opt": "adam"}, None, info(CandidateType.LOCAL_SAMPLING, 0.5, 4, took=1.0), PRUNED)
    history.append({"lr": 0.5, "opt": "adam"}, 0.5, info(CandidateType.LOCAL_SAMPLING, 0.4, 5, took=3.0),
                   duration=2.5)
    return history


def test_pyhopper_views_count_successes_only():
    history = History("min")
    history.append({"lr": 0.1}, 3.0, info(CandidateType.INIT))
    history.append({"lr": 0.2}, None, info(), FAILED)
    history.append({"lr": 0.3}, 1.0, info(CandidateType.RANDOM_SEEDING))
    history.append({"lr": 0.4}, 2.0, info())
    assert len(history) == 3 and len(history.records) == 4
    assert history.fs == [3.0, 1.0, 2.0] and history.best_fs == [3.0, 1.0, 1.0] and history.best_f == 1.0
    assert history["lr"] == [0.1, 0.3, 0.4] and history[1] == {"lr": 0.3}
    assert history.phases == ["init", "random", "local"] and history.count(FAILED) == 1
    assert history.temperatures == [0.5, 0.5, 0.5] and history.steps == [0, 1, 2]
    assert "best=1" in repr(history)
    with pytest.raises(ValueError, match="'nope'"):
        history["nope"]


def test_large_arrays_are_kept_as_summaries():
    history = History("max", max_array_size=100)
    w = np.arange(101, dtype=np.float32)
    history.append({"w": w, "b": np.zeros(100), "nested": [{"v": np.ones((11, 10), np.int8)}]}, 1.0, info())
    kept = history[0]
    assert kept["b"].shape == (100,) and isinstance(kept["w"], ArraySummary)
    assert kept["w"] == ArraySummary((101,), "float32", 50.0, float(w.std()), 0.0, 100.0)
    assert kept["nested"][0]["v"].as_dict() == {"shape": [11, 10], "dtype": "int8", "mean": 1.0, "std": 0.0,
                                                "min": 1.0, "max": 1.0}
    history.append({"w": w}, 2.0, info(), slim=False)  # the caller vouches that nothing is large
    assert history[1]["w"] is w


def test_failed_and_pruned_records_and_their_metadata():
    history = small_history()
    assert [r["candidate"]["lr"] for r in history.failed] == [0.3]
    assert [r["candidate"]["lr"] for r in history.pruned] == [0.4]
    record = history.records[4]
    assert record["phase"] == "local" and record["step"] == 5 and record["temperature"] == 0.4
    assert record["duration"] == 2.5 and history.records[2]["duration"] == 4.0  # given, or sampled → finished


def test_statistics_per_phase():
    stats = small_history().statistics()
    assert list(stats) == ["init", "random", "local", "total"]
    assert stats["init"] == {OK: 1, FAILED: 0, PRUNED: 0, "best_f": 3.0, "mean_seconds": 1.0}
    assert stats["random"] == {OK: 1, FAILED: 1, PRUNED: 0, "best_f": 1.0, "mean_seconds": 3.0}
    assert stats["local"] == {OK: 1, FAILED: 0, PRUNED: 1, "best_f": 0.5, "mean_seconds": 1.75}
    assert stats["total"][OK] == 3 and stats["total"]["best_f"] == 0.5
    assert History().statistics() == {"total": {OK: 0, FAILED: 0, PRUNED: 0, "best_f": None, "mean_seconds": None}}


def test_to_pandas_has_one_row_per_record():
    frame = small_history().to_pandas()
    assert len(frame) == 5
    assert list(frame.columns[:9]) == ["step", "phase", "status", "f", "best_f", "temperature", "seconds",
                                       "duration", "error"]
    assert frame["params_lr"].tolist() == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert frame["status"].tolist() == [OK, OK, FAILED, PRUNED, OK]
    assert frame["best_f"].tolist() == [3.0, 1.0, 1.0, 1.0, 0.5]
    assert frame["step"].tolist() == [0, 1, 2, 4, 5] and frame["phase"].iloc[0] == "init"
    assert len(History().to_pandas()) == 0


def test_to_pandas_without_pandas_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r'pip install "hopper_jax\[plots\]"'):
        History().to_pandas()


def test_empty_history_best_f_raises():
    with pytest.raises(IndexError):
        History().best_f


def test_callback_list_copies_and_validates():
    class Count(Callback):
        n = 0

        def on_search_end(self):
            self.n += 1

    user = [Count()]
    callbacks = CallbackList(user)
    callbacks.on_search_end()
    assert user[0].n == 1 and callbacks.callbacks is not user
    with pytest.raises(ValueError, match="Callback"):
        CallbackList([object()])
