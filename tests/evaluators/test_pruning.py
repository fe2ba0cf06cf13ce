"""Reporting estimates: hj.should_prune, generator objectives, PruneEvaluation, and no pruner leaking out."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from hopper_jax.evaluators import FAILED, OK, PRUNED, PruneEvaluation, PythonEvaluator, evaluate, pruning, should_prune
from hopper_jax.pruners import Pruner, QuantilePruner


class Recorder(Pruner):
    """Prunes once an estimate falls below `floor`; remembers every question it was asked."""

    def __init__(self, floor=0.0):
        super().__init__()
        self.floor, self.asked = floor, []

    def should_prune(self, partial_results):
        self.asked.append(list(partial_results))
        return partial_results[-1] < self.floor


def yields(*values):
    def objective(candidate):
        yield from values

    return objective


def test_generator_yields_are_reported_and_the_last_is_the_value():
    pruner = Recorder()
    outcome = evaluate(yields(1, np.float32(2.5), jnp.float32(3.0)), None, {}, pruner)
    assert outcome.status == OK and outcome.value == 3.0
    assert outcome.partial == [1.0, 2.5, 3.0] and all(type(v) is float for v in outcome.partial)
    assert pruner.asked == [[1.0], [1.0, 2.5], [1.0, 2.5, 3.0]]


def test_the_pruner_stops_a_generator_and_it_is_closed():
    closed = []

    def objective(candidate):
        try:
            yield from (3.0, -1.0, 5.0)
        finally:
            closed.append(True)

    outcome = evaluate(objective, None, {}, Recorder())
    assert outcome.status == PRUNED and outcome.value is None and outcome.partial == [3.0, -1.0]
    assert closed == [True]


@pytest.mark.parametrize("bad, problem", [(float("nan"), "yielded NaN as estimate 2"),
                                          (None, "yielded None"), ("x", "yielded str")])
def test_an_unusable_yield_stops_it_as_failed(bad, problem):
    pruner = Recorder()
    outcome = evaluate(yields(1.0, bad, 2.0), None, {}, pruner)
    assert outcome.status == FAILED and problem in outcome.problem and outcome.partial == [1.0]
    assert pruner.asked == [[1.0]]  # the NaN never reaches the pruner


def test_a_generator_yielding_nothing_fails_with_a_reason():
    outcome = evaluate(yields(), None, {})  # PyHopper: a success with f=None
    assert outcome.status == FAILED and "yielded nothing" in outcome.problem


def test_should_prune_inside_a_plain_objective():
    def objective(candidate, epochs):
        score = 0.0
        for epoch in range(epochs):
            score = candidate - epoch
            if should_prune(score):
                raise PruneEvaluation()
        return score

    pruner = Recorder(floor=0.5)
    kept = PythonEvaluator(objective, {"epochs": 3}, pruner)(10.0)
    assert kept.status == OK and kept.value == 8.0 and kept.partial == [10.0, 9.0, 8.0]
    pruned = PythonEvaluator(objective, {"epochs": 3}, pruner)(1.0)
    assert pruned.status == PRUNED and pruned.partial == [1.0, 0.0]
    assert evaluate(objective, 1.0, {"epochs": 3}).partial == []  # no pruner: nothing recorded


def test_without_a_pruner_nothing_is_recorded_or_pruned():
    outcome = evaluate(yields(1.0, -5.0, 2.0), None, {})
    assert outcome.status == OK and outcome.value == 2.0 and outcome.partial == []


def test_no_pruner_leaks_out_of_an_evaluation():
    pruner = Recorder(floor=math.inf)  # prunes everything it is asked about
    assert evaluate(yields(1.0), None, {}, pruner).status == PRUNED
    failed = evaluate(lambda c: 1 / 0, None, {}, pruner)  # the context is reset after an exception too
    assert failed.status == FAILED and isinstance(failed.error, ZeroDivisionError)
    assert pruning._active is None
    assert should_prune(1.0) is False and pruner.asked == [[1.0]]  # outside: not asked, nothing recorded


def test_nested_evaluations_restore_the_outer_one():
    outer, inner = Recorder(), Recorder()

    def objective(candidate):
        should_prune(1.0)
        assert evaluate(yields(2.0), None, {}, inner).partial == [2.0]
        should_prune(3.0)
        return 0.0

    assert evaluate(objective, None, {}, outer).partial == [1.0, 3.0]
    assert outer.asked == [[1.0], [1.0, 3.0]] and inner.asked == [[2.0]]


def test_non_finite_estimates_prune_without_being_recorded():
    outcome = evaluate(lambda c: -1.0 if should_prune(float("nan")) else 1.0, None, {}, Recorder())
    assert outcome.value == -1.0 and outcome.partial == []


@pytest.mark.parametrize("estimate", ["0.5", [1.0], np.zeros(2), True])
def test_should_prune_wants_a_number(estimate):
    outcome = evaluate(lambda c: should_prune(estimate), None, {}, Recorder())
    assert outcome.status == FAILED and isinstance(outcome.error, TypeError)
    assert "should_prune takes a real number" in str(outcome.error)


def test_prune_evaluation_keeps_the_estimates_so_far():
    def objective(candidate):
        yield 1.0
        raise PruneEvaluation()

    outcome = evaluate(objective, None, {}, Recorder())
    assert outcome.status == PRUNED and outcome.partial == [1.0]


def test_a_quantile_pruner_end_to_end_in_process():
    pruner = QuantilePruner(0.5, warmup=2)
    pruner.direction = "max"
    evaluator = PythonEvaluator(lambda c: (c * step for step in (1, 2, 3)), pruner=pruner)
    statuses = []
    for candidate in (1.0, 2.0, 3.0, 0.5, 2.5):
        outcome = evaluator(candidate)
        pruner.append(outcome.partial, outcome.status == PRUNED)
        statuses.append(outcome.status)
    assert statuses == [OK, OK, OK, PRUNED, OK]  # 0.5 < median(1, 2, 3) at the first step


def test_the_evaluator_refuses_a_non_pruner():
    with pytest.raises(ValueError, match="pruner must be None"):
        PythonEvaluator(lambda c: 0.0, pruner=0.5)
