"""wrap_n_times (PyHopper's semantics, bugs fixed) and its JAX counterpart average_over_keys."""

import inspect
import pickle

import cloudpickle
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopper_jax as hj
from hopper_jax.evaluators import OK, PRUNED, BatchedEvaluator, evaluate
from hopper_jax.noise import average_over_keys, wrap_n_times
from hopper_jax.pruners import Pruner
from hopper_jax.space.compile import Space

pyhopper = pytest.importorskip("pyhopper")


class Counter:
    """A picklable noisy objective: returns the next value of `values` on each call."""

    def __init__(self, values):
        self.values, self.calls = list(values), []

    def __call__(self, candidate, *index, scale=1.0):
        self.calls.append(index)
        return self.values[len(self.calls) - 1] * scale * candidate


@pytest.mark.parametrize("options", [{}, {"yield_after": 2}, {"reduction": "median"}, {"reduction": "med"},
                                     {"reduction": max}, {"yield_after": 3, "reduction": np.min}])
def test_yields_equal_pyhopper(options):
    values = [3.0, 1.0, 4.0, 1.0, 5.0]
    ours = list(wrap_n_times(Counter(values), 5, **options)(2.0, scale=0.5))
    theirs = list(pyhopper.wrap_n_times(Counter(values), 5, **options)(2.0, scale=0.5))
    assert ours == pytest.approx(theirs) and all(type(v) is float for v in ours)
    assert len(ours) == 5 - options.get("yield_after", 0)


def test_yield_after_none_yields_the_final_value_only():
    assert list(pyhopper.wrap_n_times(Counter([1.0, 2.0, 6.0]), 3, yield_after=None)(1.0)) == []  # the bug
    assert list(wrap_n_times(Counter([1.0, 2.0, 6.0]), 3, yield_after=None)(1.0)) == [3.0]
    outcome = evaluate(wrap_n_times(Counter([1.0, 2.0, 6.0]), 3, yield_after=None), 1.0, {})
    assert outcome.status == OK and outcome.value == 3.0


def test_pass_index_arg_and_kwargs():
    counter = Counter([1.0] * 4)
    assert list(wrap_n_times(counter, 4, yield_after=3, pass_index_arg=True)(1.0, scale=2.0)) == [2.0]
    assert counter.calls == [(0,), (1,), (2,), (3,)]


def test_a_pruner_stops_the_repetitions_early():
    class BelowTwo(Pruner):
        def should_prune(self, partial_results):
            return partial_results[-1] < 2.0

    counter = Counter([3.0, 0.0, 0.0, 9.0])
    outcome = evaluate(wrap_n_times(counter, 4), 1.0, {}, BelowTwo())
    assert outcome.status == PRUNED and outcome.partial == [3.0, 1.5] and len(counter.calls) == 2


def test_none_and_bad_settings_say_what_to_change():
    with pytest.raises(ValueError, match="returned None on call 0; end it with `return <value>`"):
        list(wrap_n_times(lambda c: None if c else 1.0, 2)(1.0))
    with pytest.raises(ValueError, match="pass an int >= 1"):
        wrap_n_times(Counter([]), 0)
    with pytest.raises(ValueError, match=r"pass an int in \[0, n - 1\].*or None"):
        wrap_n_times(Counter([]), 3, yield_after=3)
    with pytest.raises(ValueError, match=r"pass an int in \[0, n - 1\]"):
        wrap_n_times(Counter([]), 3, yield_after=-1)
    with pytest.raises(ValueError, match="'mean', 'median' or a function"):
        wrap_n_times(Counter([]), 3, reduction="max")
    with pytest.raises(TypeError, match="callable"):
        wrap_n_times(3.0, 3)


def test_it_is_picklable_for_worker_processes():
    wrapped = wrap_n_times(Counter([1.0, 3.0]), 2)
    assert list(pickle.loads(pickle.dumps(wrapped))(1.0)) == [1.0, 2.0]
    closure = wrap_n_times(lambda c: c + 1.0, 2)
    assert list(cloudpickle.loads(cloudpickle.dumps(closure))(1.0)) == [2.0, 2.0]


# ---- average_over_keys ----------------------------------------------------------------------------------
def test_average_over_keys_reduces_f_over_split_keys():
    def f(x, key):
        return x + jax.random.normal(key)

    key = jax.random.key(4)
    split = jax.random.split(key, 5)
    draws = np.asarray([float(f(1.0, k)) for k in split])
    assert float(average_over_keys(f, 5)(1.0, key)) == pytest.approx(draws.mean(), rel=1e-5)
    assert float(average_over_keys(f, 5, "median")(1.0, key)) == pytest.approx(np.median(draws), rel=1e-5)
    assert list(inspect.signature(average_over_keys(f, 5)).parameters)[:2] == ["candidate", "key"]


def test_average_over_keys_in_a_search_is_one_compilation():
    space = Space({"x": hj.float(-2.0, 2.0)})
    noisy = average_over_keys(lambda c, key: (c["x"] - 1.0) ** 2 + 0.3 * jax.random.normal(key), 16)
    evaluator = BatchedEvaluator(noisy, space, "jax")
    values = (jnp.linspace(-2.0, 2.0, 8),)
    evaluator.check(values)
    first = evaluator(values, jax.random.split(jax.random.key(0), 8))
    evaluator(values, jax.random.split(jax.random.key(1), 8))
    assert evaluator._compiled._cache_size() == 1
    assert np.abs(first - (np.linspace(-2, 2, 8) - 1) ** 2).max() < 0.4  # 16 draws: sd 0.075


def test_average_over_keys_with_batched_keys_gives_each_row_its_own():
    def population(p, key):  # mode='jax-batched': (P,) values and (P,) keys
        return p + jax.vmap(jax.random.normal)(key)

    keys = jax.random.split(jax.random.key(2), 3)
    out = average_over_keys(population, 4)(jnp.zeros(3), keys)
    rows = [float(average_over_keys(lambda x, key: x + jax.random.normal(key), 4)(0.0, k)) for k in keys]
    np.testing.assert_allclose(out, rows, rtol=1e-5)


def test_average_over_keys_validates():
    with pytest.raises(ValueError, match="f\\(candidate, key\\)"):
        average_over_keys(lambda c: c, 4)
    with pytest.raises(ValueError, match="'mean' or 'median'"):
        average_over_keys(lambda c, key: c, 4, "max")
    with pytest.raises(ValueError, match="pass an int >= 1"):
        average_over_keys(lambda c, key: c, 0)
