"""Tests for hopper_jax.space.declarations: PyHopper-compatible defaults, PyHopper's fixed bugs, validation."""

from __future__ import annotations

import math
import warnings

import jax
import numpy as np
import pytest

import hopper_jax as hj
from hopper_jax.space import declarations as d
from hopper_jax.space.compile import Space, initial_value
from hopper_jax.space.encodings import Draws


def all_values(param) -> set:
    """Every value an int / choice declaration can take (decoded from every level)."""
    space = Space({"x": param})
    encoding = space.leaves[0].encoding
    levels = int(np.max(encoding.levels))
    decoded = np.asarray(encoding.decode(np.arange(levels, dtype=np.int32)))
    return set(decoded.tolist())


def sampled_values(param, n: int = 2000, seed: int = 0) -> set:
    space = Space({"x": param})
    encoding = space.leaves[0].encoding
    draws = Draws(jax.random.key(seed), 2 * n)  # two words per integer
    z = draws.integers((n,), np.int32(encoding.levels))
    return set(np.asarray(encoding.decode(z)).tolist())


# ---------------------------------------------------------------------------------------------------------------
# the factories under PyHopper's names


def test_pyhopper_names_are_the_factories():
    assert hj.int is d.integer
    assert hj.float is d.real
    assert hj.bool is d.boolean
    assert isinstance(hj.int(0, 3), d.IntParameter)
    assert isinstance(hj.float(0, 3), d.FloatParameter)
    assert isinstance(hj.choice("a", "b"), d.ChoiceParameter)
    assert isinstance(hj.bool(), d.ChoiceParameter)
    assert isinstance(hj.custom(seeding_fn=lambda: 1), d.CustomParameter)
    assert isinstance(hj.int(0, 3), hj.Parameter)


# ---------------------------------------------------------------------------------------------------------------
# bool: PyHopper used init as an index, so bool(True) started False. Fixed.


def test_bool_default_starts_true():
    param = hj.bool()
    assert param.options == (True, False)
    assert param.initial_value is True
    assert initial_value(param) is True


@pytest.mark.parametrize("init", [True, False])
def test_bool_init_is_the_value_not_an_index(init):
    param = hj.bool(init)
    assert param.initial_value is init
    assert initial_value(param) is init
    assert param.options[param.init_index] is init


def test_bool_rejects_non_bool_init():
    with pytest.raises(ValueError, match="bool"):
        hj.bool(1)


def test_bool_numpy_bool_init():
    assert hj.bool(np.bool_(False)).initial_value is False


# ---------------------------------------------------------------------------------------------------------------
# float fmt


@pytest.mark.parametrize(
    ("fmt", "precision", "log"),
    [("0.2f", 2, False), ("0.1g", 1, True), (":0.5g", 5, True), (".3f", 3, False), ("1.2f", 2, False),
     (":0.3f", 3, False), ("0.0f", 0, False)],
)
def test_fmt_sets_precision_and_scale(fmt, precision, log):
    param = hj.float(1e-3, 1.0, fmt=fmt)
    assert param.precision == precision
    assert param.log is log


def test_fmt_1_2f_is_two_decimals_not_twelve():
    # PyHopper stripped '.', 'f' and parsed "12"
    assert hj.float(0, 1, fmt="1.2f").precision == 2


def test_fmt_positional_third_argument():
    param = hj.float(0, 0.5, "0.1f")
    assert param.precision == 1 and not param.log


@pytest.mark.parametrize("fmt", ["0.2e", "abc", "%0.2f", "0.2x", 2])
def test_bad_fmt_raises_value_error(fmt):
    with pytest.raises(ValueError, match="format"):
        hj.float(0.1, 1.0, fmt=fmt)


@pytest.mark.parametrize("extra", [{"log": True}, {"log": False}, {"precision": 2}, {"precision": None, "log": False}])
def test_fmt_with_log_or_precision_raises(extra):
    with pytest.raises(ValueError, match="fmt"):
        hj.float(0.1, 1.0, fmt="0.2f", **extra)


# ---------------------------------------------------------------------------------------------------------------
# bounds


@pytest.mark.parametrize("factory", [hj.float, hj.int])
def test_single_bound_is_upper_bound(factory):
    param = factory(5)
    assert float(param.lb) == 0 and float(param.ub) == 5
    param = factory(ub=5)
    assert float(param.lb) == 0 and float(param.ub) == 5


@pytest.mark.parametrize("factory", [hj.float, hj.int])
@pytest.mark.parametrize("bound", [0, -1, -5])
def test_single_non_positive_bound_raises(factory, bound):
    with pytest.raises(ValueError, match="upper bound"):
        factory(bound)


@pytest.mark.parametrize("factory", [hj.float, hj.int])
def test_reversed_bounds_are_swapped_with_a_warning(factory):
    with pytest.warns(UserWarning, match=r"lower bound above its upper bound; it is read as \w+\(1.*5"):
        param = factory(5, 1)
    assert float(param.lb) == 1 and float(param.ub) == 5


def test_ordered_bounds_give_no_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        params = hj.int(1, 10), hj.float(0, 1), hj.float(np.zeros(3), 1)
    assert caught == [] and all(np.all(p.lb < p.ub) for p in params)


def test_reversed_array_bounds_are_swapped_elementwise():
    with pytest.warns(UserWarning, match="lower bound above"):
        param = hj.float(np.array([0.0, 5.0]), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(param.lb, [0.0, 2.0])
    np.testing.assert_array_equal(param.ub, [1.0, 5.0])
    assert param.shape == (2,)


@pytest.mark.parametrize("bounds", [(0, np.inf), (-np.inf, 0), (np.nan, 1)])
def test_non_finite_bounds_raise(bounds):
    with pytest.raises(ValueError, match="finite"):
        hj.float(*bounds)


def test_shape_inferred_from_array_bounds_and_init():
    assert hj.float(np.zeros(3), np.ones(3)).shape == (3,)
    assert hj.float(0, 1, init=np.full((2, 2), 0.5)).shape == (2, 2)
    assert hj.int(0, 10, shape=4).shape == (4,)
    assert hj.float(0, 1, shape=(2, 3)).shape == (2, 3)
    assert hj.float(0, 1).shape == ()


@pytest.mark.parametrize("shape", [0, -1, (2, 0), (1.5,)])
def test_bad_shape_raises(shape):
    with pytest.raises(ValueError, match="shape"):
        hj.float(0, 1, shape=shape)


def test_bounds_that_do_not_fit_shape_raise():
    with pytest.raises(ValueError, match="shape"):
        hj.float(np.zeros(3), np.ones(3), shape=(4,))


# ---------------------------------------------------------------------------------------------------------------
# log floats


def test_log_float_default_init_is_geometric_mean():
    param = hj.float(1e-5, 1e-1, log=True)
    assert param.log
    assert math.isclose(float(initial_value(param)), 1e-3, rel_tol=1e-9)


def test_log_float_with_array_bounds_works():
    # PyHopper crashed ("truth value of an array ... is ambiguous")
    lb, ub = np.array([1e-4, 1e-2, 1.0]), np.array([1e-2, 1.0, 100.0])
    param = hj.float(lb, ub, log=True)
    assert param.shape == (3,)
    np.testing.assert_allclose(initial_value(param), np.sqrt(lb * ub), rtol=1e-9)
    space = Space({"x": param})
    encoding = space.leaves[0].encoding
    z = encoding.sample(Draws(jax.random.key(0), encoding.sample_draws))
    value = np.asarray(encoding.decode(z))
    assert np.all(value >= np.float32(lb)) and np.all(value <= np.float32(ub))


@pytest.mark.parametrize("lb", [0, -1.0])
def test_log_float_with_non_positive_lower_bound_says_what_to_do(lb):
    with pytest.raises(ValueError) as info:
        hj.float(lb, 1.0, log=True)
    message = str(info.value)
    assert "> 0" in message and "log=True" in message
    assert "e.g." in message  # it proposes a fix


def test_log_float_with_single_bound_raises():
    with pytest.raises(ValueError, match="> 0"):
        hj.float(1, log=True)  # the lower bound becomes 0


def test_log_float_without_bounds_raises():
    with pytest.raises(ValueError, match="bounds"):
        hj.float(log=True)


def test_log_float_with_array_bound_containing_zero_raises():
    with pytest.raises(ValueError, match="> 0"):
        hj.float(np.array([0.0, 1.0]), np.array([1.0, 2.0]), log=True)


def test_fmt_g_is_log_and_needs_positive_bounds():
    with pytest.raises(ValueError, match="> 0"):
        hj.float(0, 1, fmt="0.1g")


def test_precision_needs_bounds():
    with pytest.raises(ValueError, match="bounds"):
        hj.float(precision=2)


@pytest.mark.parametrize("precision", [-1, 1.5, "2"])
def test_bad_precision_raises(precision):
    with pytest.raises(ValueError, match="precision"):
        hj.float(0, 1, precision=precision)


def test_precision_without_grid_value_inside_bounds_raises():
    with pytest.raises(ValueError, match="precision"):
        hj.float(0.11, 0.19, precision=1)


# ---------------------------------------------------------------------------------------------------------------
# float defaults and init validation


def test_linear_float_default_init_is_mid_range():
    assert float(initial_value(hj.float(-3, 5))) == 1.0
    assert float(initial_value(hj.float(0, 1))) == 0.5


def test_unbounded_float_default_init_is_zero():
    param = hj.float()
    assert param.lb is None and param.ub is None
    assert float(initial_value(param)) == 0.0


def test_precision_default_init_is_on_grid():
    value = float(initial_value(hj.float(0, 0.25, precision=1)))  # mid 0.125 → 0.1
    assert value == pytest.approx(0.1)


def test_explicit_float_init_is_kept():
    param = hj.float(0, 1, init=0.3)
    assert float(param.initial_value) == 0.3
    assert float(initial_value(param)) == 0.3


@pytest.mark.parametrize(
    ("make", "shown"),
    [
        (lambda: hj.float(0, 1, precision=2, init=0.123), "0.123"),
        (lambda: hj.float(1e-3, 1, fmt="0.1g", init=0.25), "0.25"),
        (lambda: hj.float(0, 1, init=np.nan), "nan"),
        (lambda: hj.int(0, 10, multiple_of=3, init=4), "4"),
        (lambda: hj.int(1, 100, power_of=2, init=5), "5"),
        (lambda: hj.int(0, 10, init=2.5), "2.5"),
        (lambda: hj.choice("a", "b", init="c"), "c"),
    ],
)
def test_invalid_init_raises_naming_the_value(make, shown):  # outside the bounds: see test_pyhopper_compat
    with pytest.raises(ValueError) as info:
        make()
    assert shown in str(info.value)


# ---------------------------------------------------------------------------------------------------------------
# ints


def test_int_default_init_is_middle():
    assert int(initial_value(hj.int(0, 10))) == 5
    assert int(initial_value(hj.int(0, 11))) == 5
    assert int(initial_value(hj.int(-3, 4))) == 0


def test_int_without_bounds_has_default_bounds_and_init_zero():
    param = hj.int()
    assert (int(param.lb), int(param.ub)) == d.DEFAULT_INT_BOUNDS
    assert int(initial_value(param)) == 0


def test_int_multiple_of_grid_stays_inside_bounds():
    # PyHopper snapped then clipped, producing the off-grid bounds 1 and 10
    param = hj.int(1, 10, multiple_of=4)
    assert all_values(param) == {4, 8}
    assert sampled_values(param) == {4, 8}
    assert int(initial_value(param)) in (4, 8)


def test_int_multiple_of_with_negative_bounds():
    assert all_values(hj.int(-10, 10, multiple_of=4)) == {-8, -4, 0, 4, 8}
    assert all_values(hj.int(-5, -1, multiple_of=2)) == {-4, -2}


def test_int_multiple_of_without_multiple_inside_raises():
    with pytest.raises(ValueError, match="multiple"):
        hj.int(5, 7, multiple_of=10)


def test_int_power_of_two_grid():
    # PyHopper also yielded the non-power lower bound 10
    param = hj.int(10, 100, power_of=2)
    assert all_values(param) == {16, 32, 64}
    assert sampled_values(param) == {16, 32, 64}


def test_int_power_of_two_default_init():
    assert int(initial_value(hj.int(8, 1024, power_of=2))) == 64


def test_int_power_of_three():
    assert all_values(hj.int(1, 100, power_of=3)) == {1, 3, 9, 27, 81}


def test_int_power_of_with_multiple_of():
    assert all_values(hj.int(1, 100, power_of=2, multiple_of=8)) == {8, 16, 32, 64}


@pytest.mark.parametrize("power_of", [1, 0, -2, 2.0])
def test_int_bad_power_of_raises(power_of):
    with pytest.raises(ValueError, match="power_of"):
        hj.int(1, 100, power_of=power_of)


def test_int_power_of_needs_positive_lower_bound():
    with pytest.raises(ValueError, match="lb"):
        hj.int(0, 100, power_of=2)


def test_int_power_of_without_power_inside_raises():
    with pytest.raises(ValueError, match="power"):
        hj.int(5, 7, power_of=2)


@pytest.mark.parametrize("multiple_of", [0, -3, 2.5])
def test_int_bad_multiple_of_raises(multiple_of):
    with pytest.raises(ValueError, match="multiple_of"):
        hj.int(0, 100, multiple_of=multiple_of)


def test_int_non_integer_bounds_raise():
    with pytest.raises(ValueError, match="int"):
        hj.int(0.5, 10)


def test_int_bounds_outside_int32_raise():
    with pytest.raises(ValueError, match="int32"):
        hj.int(0, 2**40)


def test_int_array_bounds_without_init_work():
    # PyHopper raised TypeError
    param = hj.int(np.array([0, 10]), np.array([4, 20]))
    assert param.shape == (2,)
    np.testing.assert_array_equal(initial_value(param), [2, 15])


def test_int_integral_float_init_accepted():
    assert int(hj.int(0, 10, init=3.0).initial_value) == 3


# ---------------------------------------------------------------------------------------------------------------
# choices


def test_choice_without_options_raises():
    with pytest.raises(ValueError, match="option"):
        hj.choice()
    with pytest.raises(ValueError, match="option"):
        hj.choice([])


def test_choice_single_list_is_its_items():
    assert hj.choice(["a", "b"]).options == ("a", "b")


def test_choice_single_tuple_is_one_option():
    assert hj.choice(("a", "b")).options == (("a", "b"),)


def test_choice_list_and_more_is_two_options():
    assert hj.choice(["a", "b", "c"], "a").options == (["a", "b", "c"], "a")


def test_choice_init_by_value():
    param = hj.choice("a", "b", init="b")
    assert param.init_index == 1
    assert param.initial_value == "b"
    assert initial_value(param) == "b"


def test_choice_init_index():
    param = hj.choice("a", "b", "c", init_index=2)
    assert param.initial_value == "c"


@pytest.mark.parametrize("init_index", [3, -1, 1.0])
def test_choice_bad_init_index_raises(init_index):
    with pytest.raises(ValueError, match="init_index"):
        hj.choice("a", "b", "c", init_index=init_index)


def test_choice_init_and_init_index_together_raise():
    with pytest.raises(ValueError, match="init"):
        hj.choice("a", "b", init="a", init_index=0)


def test_choice_default_init_nominal_first_ordinal_middle():
    assert hj.choice("a", "b", "c", "d").init_index == 0
    assert hj.choice("a", "b", "c", "d", is_ordinal=True).init_index == 1
    assert hj.choice(1, 2, 3, 4, 5, is_ordinal=True).initial_value == 3
    assert hj.choice(1, 2, 3, is_ordinal=True).initial_value == 2


def test_choice_init_with_array_options():
    options = [np.zeros(2), np.ones(2)]
    param = hj.choice(options, init=options[1])
    assert param.init_index == 1


def test_choice_hooks_must_be_callable():
    with pytest.raises(ValueError, match="callable"):
        hj.choice("a", "b", mutation_fn=3)


# ---------------------------------------------------------------------------------------------------------------
# custom


def test_custom_needs_a_function():
    with pytest.raises(ValueError, match="seeding_fn"):
        hj.custom()
    with pytest.raises(ValueError, match="seeding_fn"):
        hj.custom(init=3)


def test_custom_init_from_seeding_fn():
    calls = []

    def seed():
        calls.append(1)
        return 42

    param = hj.custom(seeding_fn=seed)
    assert param.initial_value == 42
    assert calls == [1]


def test_custom_mutation_only_needs_init():
    with pytest.raises(ValueError, match="init"):
        hj.custom(mutation_fn=lambda v: v + 1)
    param = hj.custom(mutation_fn=lambda v: v + 1, init=1)
    assert param.initial_value == 1
    assert param.mutate(1, 0.5) == 2


def test_custom_mutation_fn_arity():
    one = hj.custom(mutation_fn=lambda v: v + 1, init=0)
    two = hj.custom(mutation_fn=lambda v, t: v + t, init=0)
    assert one.mutate(1, temperature=0.5) == 2
    assert two.mutate(1, temperature=0.5) == 1.5


def test_custom_not_callable_raises():
    with pytest.raises(ValueError, match="callable"):
        hj.custom(seeding_fn=5)


# ---------------------------------------------------------------------------------------------------------------
# every declaration error is a ValueError raised when declaring


@pytest.mark.parametrize(
    "make",
    [
        lambda: hj.float(0, 1, fmt="0.2e"),
        lambda: hj.float(0, 1, fmt="0.2f", log=True),
        lambda: hj.float(-1),
        lambda: hj.float(0, 1, log=True),
        lambda: hj.float(0, 1, init=np.inf),
        lambda: hj.float(0, 1, mutation_fn="x"),
        lambda: hj.int(-1),
        lambda: hj.int(1, 10, power_of=1),
        lambda: hj.int(0, 10, init=2.5),
        lambda: hj.int(0, 10, seeding_fn=1),
        lambda: hj.choice(),
        lambda: hj.choice("a", init="z"),
        lambda: hj.bool("yes"),
        lambda: hj.custom(),
    ],
)
def test_every_declaration_error_is_value_error(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize("shape", [3.5, "abc", object()])
def test_a_shape_that_is_not_ints_gets_a_clear_error(shape):
    with pytest.raises(ValueError, match="shape must be a positive int or a tuple of positive ints"):
        hj.float(0, 1, shape=shape)
