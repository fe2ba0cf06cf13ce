"""History keeps every evaluation, with a bounded policy for huge arrays."""

import numpy as np
import pytest

from hopper_jax.search.callbacks import CallbackList, Callback, CandidateType, ParamInfo
from hopper_jax.search.history import FAILED, History


def info(kind=CandidateType.LOCAL_SAMPLING, temperature=0.5):
    return ParamInfo(kind, 0.0, finished_at=None, temperature=temperature)


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


def test_large_arrays_are_not_kept():
    history = History("max", max_array_size=100)
    history.append({"w": np.zeros(101), "b": np.zeros(100)}, 1.0, info())
    assert history[0]["w"] is None and history[0]["b"].shape == (100,)


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
