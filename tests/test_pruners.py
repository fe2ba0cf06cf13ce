"""Pruners: PyHopper's decisions on the same reports (checked against pyhopper 1.2.3), its bugs fixed, and
JSON state round trips."""

import json
import pickle

import numpy as np
import pytest

from hopper_jax.pruners import Pruner, QuantilePruner, TopKPruner, check_pruner

pyhopper_pruners = pytest.importorskip("pyhopper.pruners")


def quantile(direction="max", **options):
    pruner = QuantilePruner(**{"q": 0.5, "warmup": 2, **options})
    pruner.direction = direction
    return pruner


# ---- decision sequences described in the reference (§1.9) ----------------------------------------------
def test_quantile_compares_the_latest_estimate_with_the_pool_at_its_step():
    pruner = quantile(q=0.8)
    for run in ([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [3.0, 4.0, 5.0]):
        pruner.append(run, False)
    assert pruner.n == 3 and pruner.pools == [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [3.0, 4.0, 5.0]]
    # the 0.8-quantile of [1, 2, 3] is 2.6 (linear interpolation): 2.6 survives, 2.5 does not
    assert not pruner.should_prune([2.6]) and pruner.should_prune([2.5])
    # only the latest estimate counts: a bad first one does not prune at step 2 (quantile 3.6)
    assert not pruner.should_prune([0.0, 3.6]) and pruner.should_prune([9.0, 3.5])
    assert not pruner.should_prune([0.0, 0.0, 0.0])  # all n estimates in: never pruned


def test_quantile_minimising_uses_the_complementary_quantile():
    pruner = quantile("min", q=0.8)
    for run in ([1.0], [2.0], [3.0]):
        pruner.append(run + [0.0], False)
    # (1 - 0.8)-quantile of [1, 2, 3] is 1.4: lower is better
    assert not pruner.should_prune([1.4]) and pruner.should_prune([1.5])


def test_quantile_waits_for_warmup_values_at_each_step():
    pruner = quantile(warmup=3)
    pruner.append([5.0, 5.0], False)
    pruner.append([5.0], True)  # a pruned run still adds its estimates
    assert not pruner.should_prune([0.0])  # two values at step 0 < warmup
    pruner.append([5.0, 5.0], False)
    assert pruner.should_prune([0.0])  # three values now
    assert pruner.pools == [[5.0, 5.0, 5.0], [5.0, 5.0]]


def test_topk_keeps_the_k_best_complete_runs():
    pruner = TopKPruner(2)
    pruner.direction = "max"
    pruner.append([1.0, 1.0, 1.0], False)
    assert not pruner.should_prune([-5.0])  # fewer than k complete runs
    pruner.append([3.0, 3.0, 3.0], False)
    pruner.append([2.0, 2.0], True)  # pruned: shorter, ignored
    assert pruner.top == [[1.0, 1.0, 1.0], [3.0, 3.0, 3.0]]
    assert pruner.should_prune([0.5]) and not pruner.should_prune([1.0])  # worse than all k / equal to one
    assert pruner.should_prune([2.0, 0.9]) and not pruner.should_prune([2.0, 1.0])
    pruner.append([0.0, 0.0, 2.0], False)  # final 2 >= 1: enters, and the worst (1) leaves
    assert pruner.top == [[3.0, 3.0, 3.0], [0.0, 0.0, 2.0]]
    assert not pruner.should_prune([0.0, 0.0]) and pruner.should_prune([-1.0])
    pruner.append([9.0, 9.0, 2.0], False)  # ties the worst: enters, the first of the equals leaves
    assert pruner.top == [[3.0, 3.0, 3.0], [9.0, 9.0, 2.0]]
    pruner.append([9.0, 9.0, 1.0], False)  # worse than both: not kept
    assert pruner.top == [[3.0, 3.0, 3.0], [9.0, 9.0, 2.0]]


# ---- the same decisions as pyhopper on random report streams -----------------------------------------
def drive(ours, theirs, rng, evaluations=60, n=5):
    """Feed both pruners the same evaluations; each asks after every estimate. Returns the decisions."""
    decisions = []
    for index in range(evaluations):
        scale = rng.uniform(0.5, 2.0)
        estimates = list(np.round(np.cumsum(rng.normal(scale, 1.0, n)), 1))  # rounded: ties happen
        partial, pruned = [], False
        for value in estimates:
            partial.append(float(value))
            decision = ours.should_prune(partial)
            assert decision == theirs.should_prune(list(partial)), (index, partial)
            decisions.append(decision)
            if decision:
                pruned = True
                break
        if not pruned and index and rng.random() < 0.1:  # now and then the objective prunes itself
            partial, pruned = partial[: rng.integers(1, n)], True
        ours.append(list(partial), pruned)
        theirs.append(list(partial), pruned)
    return decisions


@pytest.mark.parametrize("direction", ["max", "min"])
@pytest.mark.parametrize("make", [lambda m: m.QuantilePruner(0.5, warmup=3), lambda m: m.QuantilePruner(0.8),
                                  lambda m: m.TopKPruner(3), lambda m: m.TopKPruner(1)])
def test_decisions_equal_pyhopper_on_random_streams(make, direction):
    import hopper_jax.pruners as mine

    for seed in range(4):
        ours, theirs = make(mine), make(pyhopper_pruners)
        ours.direction = theirs.direction = direction
        decisions = drive(ours, theirs, np.random.default_rng(seed))
        assert any(decisions) and not all(decisions)  # the streams exercise both answers
        if isinstance(ours, QuantilePruner):
            assert ours.state_dict()["pools"] == theirs.state_dict()["intermediates"]
        else:
            assert ours.top == [list(run) for run in zip(*theirs.state_dict()["top_k_intermediates"], strict=True)]


# ---- PyHopper's bugs, fixed ----------------------------------------------------------------------------
def test_an_empty_first_report_does_not_fix_the_length():
    theirs = pyhopper_pruners.QuantilePruner(0.5, warmup=1)
    theirs.direction = "max"
    theirs.append([], False)
    with pytest.raises(IndexError):  # PyHopper: n = 0, then every question fails
        theirs.should_prune([1.0])
    ours = quantile(warmup=1)
    ours.append([], False)  # a plain objective reports nothing
    assert ours.n is None and not ours.should_prune([1.0])
    ours.append([2.0, 2.0], False)
    assert ours.n == 2 and ours.should_prune([1.0])
    topk = TopKPruner(1)
    topk.direction = "max"
    topk.append([], False)  # PyHopper: IndexError
    topk.append([1.0, 2.0], True)  # a pruned report cannot fix n either
    assert topk.n is None and topk.top == []
    topk.append([1.0, 2.0, 3.0], False)
    assert topk.n == 3 and topk.should_prune([0.5])


@pytest.mark.parametrize("q", [0, -0.2, 100, 150, True, "0.5"])
def test_q_must_be_a_fraction_or_a_percentage(q):
    with pytest.raises(ValueError, match="fraction strictly between 0 and 1 .* or a percentage"):
        QuantilePruner(q)


@pytest.mark.parametrize("q, fraction", [(50, 0.5), (80, 0.8), (99.5, 0.995), (1.5, 0.015)])
def test_a_percentage_is_read_as_pyhopper_reads_it(q, fraction):
    assert QuantilePruner(q).q == pytest.approx(fraction)
    with pytest.warns(UserWarning, match="1 % quantile"):
        assert QuantilePruner(1).q == pytest.approx(0.01)


@pytest.mark.parametrize("make", [lambda: QuantilePruner(0.5, warmup=-1), lambda: QuantilePruner(0.5, warmup=1.5),
                                  lambda: TopKPruner(0), lambda: TopKPruner(2.0)])
def test_other_settings_are_validated(make):
    with pytest.raises(ValueError, match="must be"):
        make()


def test_a_longer_report_says_what_to_change():
    for pruner in (quantile(), TopKPruner(1)):
        pruner.direction = "max"
        pruner.append([1.0, 2.0], False)
        with pytest.raises(ValueError, match="same number of estimates"):
            pruner.append([1.0, 2.0, 3.0], False)
        assert not pruner.should_prune([1.0, 2.0, 3.0])  # a question beyond n is no decision (PyHopper: IndexError)


def test_is_better_or_equal_as_pyhopper():
    pruner = TopKPruner(1)
    pruner.direction = "min"
    assert pruner.is_better_or_equal(1.0, [0.5, 1.0, 2.0]).tolist() == [False, True, True]
    assert pruner.is_better_or_equal(3.0, [0.5, 2.0], np.any) == np.False_


def test_direction_must_be_set():
    pruner = QuantilePruner(0.5, warmup=1)
    pruner.append([1.0, 1.0], False)
    with pytest.raises(ValueError, match="direction"):
        pruner.should_prune([0.0])


# ---- state -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: QuantilePruner(0.7, warmup=2), lambda: TopKPruner(2)])
def test_state_round_trips_through_json_and_keeps_decisions(make):
    rng = np.random.default_rng(5)
    pruner = make()
    pruner.direction = "max"
    for _ in range(8):
        pruner.append([float(np.float32(v)) for v in rng.normal(size=4)], False)  # numpy-free floats
    pruner.append([np.float64(0.5)], True)  # numpy scalars are stored as floats
    text = json.dumps(pruner.state_dict())
    restored = make()
    restored.direction = "max"
    restored.load_state_dict(json.loads(text))
    assert restored.state_dict() == pruner.state_dict()
    for probe in ([0.1], [-1.0], [0.3, -0.2], [2.0, 2.0, -3.0]):
        assert restored.should_prune(probe) == pruner.should_prune(probe)
    copy = pickle.loads(pickle.dumps(pruner))  # what a worker gets
    assert copy.state_dict() == pruner.state_dict() and copy.direction == "max"
    with pytest.raises(ValueError, match="state_dict"):
        restored.load_state_dict({})


def test_check_pruner():
    assert check_pruner(None) is None
    pruner = TopKPruner(1)
    assert check_pruner(pruner) is pruner and isinstance(pruner, Pruner)
    with pytest.raises(ValueError, match="QuantilePruner"):
        check_pruner("median")
