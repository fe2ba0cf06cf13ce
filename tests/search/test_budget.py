"""Budgets turn steps / runtime / endless into progress and phase membership."""

import numpy as np
import pytest

from hopper_jax.search.budget import Budget, parse_direction


def test_steps_progress_and_phase_one_share():
    budget = Budget(steps=20)
    np.testing.assert_allclose(budget.progress(4), [0, 0.05, 0.1, 0.15])
    assert budget.explore(20).sum() == 5  # int(0.25 * 20) random-seeding steps
    budget.step = 19
    assert not budget.done()
    budget.step = 20
    assert budget.done() and budget.remaining() == 0


def test_seeding_steps_and_seeding_ratio_zero():
    assert Budget(steps=10, seeding_steps=3).explore(10).tolist() == [True] * 3 + [False] * 7
    assert not Budget(steps=10, seeding_ratio=0).explore(10).any()


def test_runtime_budget_stops_before_overrunning():
    budget = Budget(runtime="2s")
    assert budget.runtime == 2
    budget.elapsed_before = 1.5
    budget.record_seconds(0.4)
    assert not budget.done()
    budget.record_seconds(0.8)  # EMA: 0.6 → 1.5 + 0.6 >= 2
    assert budget.done()


def test_endless_mode_is_seeded():
    a, b = Budget(endless=True, seed=1), Budget(endless=True, seed=1)
    np.testing.assert_array_equal(a.progress(5), b.progress(5))
    assert not a.done()
    assert 0 < Budget(endless=True, seed=2).explore(1000).mean() < 0.4


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one budget"), ({"steps": 3, "runtime": 2}, "exactly one budget"),
    ({"steps": 0}, "positive int"), ({"steps": 2.5}, "positive int"), ({"steps": True}, "positive int"),
    ({"steps": 4, "seeding_steps": 1, "seeding_runtime": 2}, "at most one"),
    ({"steps": 4, "seeding_ratio": 1.5}, r"\[0, 1\]"), ({"steps": 4, "seeding_ratio": None}, r"\[0, 1\]"),
])
def test_invalid_budgets_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Budget(**kwargs)


def test_directions():
    assert parse_direction("maximise") == "max" and parse_direction("MIN") == "min"
    with pytest.raises(ValueError, match="'max'"):
        parse_direction("largest")


def _at(budget: Budget, elapsed: float) -> Budget:
    budget.started, budget.elapsed_before = 0.0, 0.0
    budget.started = __import__("time").monotonic() - elapsed
    return budget


def test_start_up_time_does_not_eat_phase_one_of_a_runtime_budget():
    budget = _at(Budget(runtime=10), 1.5)  # compiling: phase 1, progress 0, however long it takes
    assert budget.explore(1).tolist() == [True] and budget.progress(1)[0] == pytest.approx(0.0, abs=1e-3)
    _at(budget, 2.0).mark_warm()  # compiled after 2 s
    _at(budget, 2.5).mark_warm()  # only the first call counts
    assert budget.warmup == pytest.approx(2.0, abs=0.05)
    # phase 1 is a quarter of the 8 s the search had: it ends at 2 + 2 = 4 s
    assert _at(budget, 3.9).explore(1).tolist() == [True]
    assert _at(budget, 4.1).explore(1).tolist() == [False]
    assert _at(budget, 6.0).progress(1)[0] == pytest.approx(0.5, abs=0.01)
    budget.record_seconds(1.0)  # an evaluation takes 1 s
    assert _at(budget, 8.5).done() is False and _at(budget, 9.5).done() is True  # the wall budget, less an evaluation


def test_seeding_runtime_counts_from_when_the_search_is_warm():
    budget = _at(Budget(runtime=10, seeding_runtime=1), 2.0)
    budget.mark_warm()
    assert _at(budget, 2.9).explore(1).tolist() == [True]
    assert _at(budget, 3.1).explore(1).tolist() == [False]
