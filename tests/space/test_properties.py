"""Property tests: random declarations and random encodings decode inside the bounds and on the grid.

Encodings are exercised eagerly with fixed batch shapes (so JAX reuses its compiled primitives across
examples); the whole algorithm is exercised through one jitted `ask` over a fixed space of every type.
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

import hopper_jax as hj
from hopper_jax.space import declarations as d
from hopper_jax.space.compile import Space, initial_value
from hopper_jax.space.encodings import Continuous, Discrete, Draws, Unbounded
from hopper_jax.space.grids import exact_log

B = 8  # rows per batch
# no shrinking: a failing property fails in seconds, and the messages below describe the declaration
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                    HealthCheck.large_base_example],
                phases=[Phase.explicit, Phase.reuse, Phase.generate])


def describe(param) -> str:
    """The declaration, readable in a failure message."""
    if isinstance(param, d.ChoiceParameter):
        return f"choice({list(param.options)!r}, ordinal={param.is_ordinal}, init_index={param.init_index})"
    if isinstance(param, d.IntParameter):
        init = None if param.init is None else param.init.tolist()
        return (f"int({param.lb.tolist()!r}, {param.ub.tolist()!r}, multiple_of={param.multiple_of}, "
                f"power_of={param.power_of}, shape={param.shape}, init={init!r})")
    lb = None if param.lb is None else param.lb.tolist()
    ub = None if param.ub is None else param.ub.tolist()
    init = None if param.init is None else param.init.tolist()
    return (f"float({lb!r}, {ub!r}, log={param.log}, precision={param.precision}, shape={param.shape}, "
            f"init={init!r})")


# ---------------------------------------------------------------------------------------------------------------
# strategies

SHAPES = st.sampled_from([(), (3,)])


@st.composite
def decimal_numbers(draw, low: int, high: int):
    """Numbers like 0.5, -2.25, 13, 0.123456789: short decimals (often on a grid) and arbitrary floats."""
    if draw(st.booleans()):
        digits = draw(st.integers(0, 3))
        return draw(st.integers(low * 10**digits, high * 10**digits)) / 10**digits
    return draw(st.floats(low, high, allow_nan=False, allow_infinity=False).filter(lambda x: x == 0 or abs(x) > 1e-4))


def declare(factory, *args, **kwargs):
    """The declaration, or reject the example when the random arguments are not a valid declaration.

    Bounds come in either order, as PyHopper accepts them: reversed ones are read swapped, with a warning
    that test_declarations checks (here it is expected, so not shown)."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "hopper_jax: .* lower bound above its upper bound", UserWarning)
            return factory(*args, **kwargs)
    except ValueError:
        assume(False)


@st.composite
def linear_floats(draw, shapes=SHAPES):
    lb, ub = draw(decimal_numbers(-100, 100)), draw(decimal_numbers(-100, 100))
    precision = draw(st.one_of(st.none(), st.integers(0, 3)))
    return declare(hj.float, lb, ub, precision=precision, shape=draw(shapes))


@st.composite
def log_floats(draw, shapes=SHAPES):
    def positive():
        mantissa = draw(st.one_of(st.sampled_from([1.0, 2.0, 2.5, 5.0]), st.floats(1.0, 9.99)))
        return mantissa * 10.0 ** draw(st.integers(-6, 3))

    lb, ub = positive(), positive()
    precision = draw(st.one_of(st.none(), st.integers(1, 3)))
    return declare(hj.float, lb, ub, log=True, precision=precision, shape=draw(shapes))


@st.composite
def ints(draw, shapes=SHAPES):
    power_of = draw(st.sampled_from([None, None, 2, 3]))
    low = 1 if power_of else -1000
    lb, ub = draw(st.integers(low, 1000)), draw(st.integers(low, 1000))
    multiple_of = draw(st.one_of(st.none(), st.integers(1, 12)))
    if power_of and multiple_of:
        multiple_of = power_of ** draw(st.integers(0, 3))
    return declare(hj.int, lb, ub, multiple_of=multiple_of, power_of=power_of, shape=draw(shapes))


@st.composite
def choices(draw):
    kind = draw(st.sampled_from(["int", "float", "str", "bool"]))
    if kind == "bool":
        return hj.bool(draw(st.booleans()))
    n = draw(st.integers(1, 5))
    if kind == "int":
        options = draw(st.lists(st.integers(-50, 50), min_size=n, max_size=n, unique=True))
    elif kind == "float":
        options = draw(st.lists(st.floats(-10, 10, width=32), min_size=n, max_size=n, unique=True))
    else:
        options = [f"option{i}" for i in range(n)]
    return hj.choice(*options, is_ordinal=draw(st.booleans()), init_index=draw(st.integers(0, n - 1)))


DECLARATIONS = st.one_of(linear_floats(), log_floats(), ints(), choices(), st.just(hj.float()),
                         st.builds(lambda s: hj.float(shape=s), SHAPES))
SCALAR = st.just(())
# scalar declarations only: each new (encoding kind, shape) costs a round of eager compilations, and the
# dense / sparse array paths of perturb are covered by the ask test below
SCALAR_DECLARATIONS = st.one_of(linear_floats(SCALAR), log_floats(SCALAR), ints(SCALAR), choices(),
                                st.just(hj.float()))


# ---------------------------------------------------------------------------------------------------------------
# checks


def _exact_power(value: int, base: int) -> bool:
    return value >= 1 and exact_log(int(value), base) is not None


def check_raw(param, raw: np.ndarray) -> None:
    """Decoded values (as they appear inside jit) of one leaf, any leading batch dims: in bounds, on grid."""
    raw = np.asarray(raw)
    if isinstance(param, d.ChoiceParameter):
        return
    if isinstance(param, d.IntParameter):
        assert np.issubdtype(raw.dtype, np.integer)
        assert np.all(raw >= param.lb) and np.all(raw <= param.ub), (describe(param), raw)
        if param.multiple_of:
            assert np.all(raw % param.multiple_of == 0), (describe(param), raw)
        if param.power_of:
            assert all(_exact_power(v, param.power_of) for v in raw.reshape(-1).tolist()), (describe(param), raw)
        return
    assert np.all(np.isfinite(raw))
    if param.lb is None:
        return
    value = raw.astype(np.float64)
    assert np.all(raw >= np.float32(param.lb)) and np.all(raw <= np.float32(param.ub)), (describe(param), raw)
    if param.precision is not None:
        p = param.precision
        ulp = np.spacing(np.abs(raw).astype(np.float32)).astype(np.float64)
        if param.log:
            grid = np.vectorize(lambda v: float(f"{v:.{p}g}"))(value)
        else:
            grid = np.round(value, p)
        assert np.all(np.abs(value - grid) <= 3 * ulp), (describe(param), value, grid)


def check_python(param, value) -> None:
    """A value as the objective sees it (to_python): type, bounds (to float32 accuracy), grid."""
    if isinstance(param, d.ChoiceParameter):
        assert any(d._same_option(option, value) for option in param.options)
        return
    if param.shape != ():
        assert isinstance(value, np.ndarray) and value.shape == param.shape
        check_raw(param, value)
        return
    if isinstance(param, d.IntParameter):
        assert type(value) is int
        check_raw(param, np.asarray(value))
        return
    assert type(value) is float and math.isfinite(value)
    if param.lb is None:
        return
    assert np.float32(param.lb) <= np.float32(value) <= np.float32(param.ub), (describe(param), value)
    if param.precision is not None:
        p = param.precision
        grid = float(f"{value:.{p}g}") if param.log else round(value, p)
        assert math.isclose(value, grid, rel_tol=1e-12, abs_tol=1e-300), (describe(param), value, grid)


def z_strategy(encoding):
    """Random internal encodings of one leaf (a batch of B)."""
    shape = (B,) + encoding.shape
    if isinstance(encoding, Continuous):
        elements = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0.0, 1.0, width=32))
        return st.lists(elements, min_size=math.prod(shape), max_size=math.prod(shape)).map(
            lambda v: np.asarray(v, np.float32).reshape(shape))
    if isinstance(encoding, Unbounded):
        return st.lists(st.floats(-1e4, 1e4, width=32), min_size=math.prod(shape), max_size=math.prod(shape)).map(
            lambda v: np.asarray(v, np.float32).reshape(shape))
    top = np.broadcast_to(encoding.levels, encoding.shape).reshape(-1) - 1
    fraction = st.lists(st.floats(0.0, 1.0), min_size=math.prod(shape), max_size=math.prod(shape))
    return fraction.map(lambda f: np.round(np.asarray(f).reshape(shape) * np.broadcast_to(top.reshape(encoding.shape),
                                                                                         shape)).astype(np.int32))


EPS32 = float(np.finfo(np.float32).eps)


def float_tolerance(param, value) -> np.ndarray:
    """How far a float round trip through the float32 unit-box encoding may drift (a few float32 ulps)."""
    if param.log:
        return 4 * EPS32 * np.abs(value) * max(abs(np.log(param.lb)).max(), abs(np.log(param.ub)).max(), 1.0)
    return np.full(np.shape(value), 4 * EPS32 * max(np.abs(param.lb).max(), np.abs(param.ub).max(), 1e-30))


def python_values(space: Space, decoded: np.ndarray) -> list:
    return [space.to_python((row,), {})["x"] for row in decoded]


# ---------------------------------------------------------------------------------------------------------------
# properties of the encodings


@settings(max_examples=120, **SETTINGS)
@given(data=st.data(), param=DECLARATIONS)
def test_decode_of_any_encoding_is_in_bounds_and_on_grid(data, param):
    space = Space({"x": param})
    encoding = space.leaves[0].encoding
    z = data.draw(z_strategy(encoding))
    decoded = np.asarray(encoding.decode(jnp.asarray(z)))
    assert decoded.shape == z.shape
    check_raw(param, decoded)
    if not isinstance(param, d.ChoiceParameter) or all(isinstance(o, str) for o in param.options):
        for value in python_values(space, decoded):
            check_python(param, value)


@settings(max_examples=50, **SETTINGS)
@given(param=SCALAR_DECLARATIONS, seed=st.integers(0, 2**31 - 1),
       temperature=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)),
       log_step=st.floats(-12.0, 1.0))
def test_sample_and_perturb_decode_in_bounds_and_on_grid(param, seed, temperature, log_step):
    encoding = Space({"x": param}).leaves[0].encoding
    keys = jax.random.split(jax.random.key(seed), B)
    sampled = jax.vmap(lambda key: encoding.sample(Draws(key, encoding.sample_draws)))(keys)
    assert sampled.shape == (B,) + encoding.shape and sampled.dtype == encoding.dtype
    if isinstance(encoding, Continuous):
        assert np.all((np.asarray(sampled) >= 0) & (np.asarray(sampled) <= 1))
    if isinstance(encoding, Discrete):
        assert np.all((np.asarray(sampled) >= 0) & (np.asarray(sampled) < encoding.levels))
    check_raw(param, encoding.decode(sampled))
    step = jnp.float32(temperature * math.exp(log_step))
    moved = jax.vmap(lambda key, z: encoding.perturb(Draws(key, encoding.perturb_draws), z, step,
                                                     jnp.float32(temperature)))(keys, sampled)
    assert moved.shape == sampled.shape and moved.dtype == encoding.dtype
    if isinstance(encoding, Continuous):
        assert np.all((np.asarray(moved) >= 0) & (np.asarray(moved) <= 1))
    if isinstance(encoding, Discrete):
        assert np.all((np.asarray(moved) >= 0) & (np.asarray(moved) < encoding.levels))
    check_raw(param, encoding.decode(moved))
    # something moves in most rows (an ordinal step reflected at an end can land where it started)
    changed = np.any((np.asarray(moved) != np.asarray(sampled)).reshape(B, -1), axis=1)
    if isinstance(encoding, Discrete) and np.all(encoding.levels > 1) and step > 0:
        assert np.mean(changed) >= 0.5, (describe(param), np.asarray(sampled), np.asarray(moved))


@st.composite
def float_with_valid_init(draw):
    param = draw(st.one_of(linear_floats(), log_floats()))
    lo, hi = (d.grid_limits(param.lb, param.ub, param.precision, param.log) if param.precision is not None
              else (param.lb, param.ub))
    lo, hi = float(np.max(lo)), float(np.min(hi))
    assume(lo <= hi)
    where = draw(st.sampled_from(["lb", "ub", "any"]))
    if where == "lb":
        init = float(np.max(param.lb))
    elif where == "ub":
        init = float(np.min(param.ub))
    else:
        init = draw(st.floats(lo, hi))
    if param.precision is not None:
        init = float(d.round_to_grid(init, param.precision, param.log))
    assume(np.all(init >= param.lb) and np.all(init <= param.ub))
    shape = param.shape
    return declare(hj.float, param.lb, param.ub, log=param.log, precision=param.precision, init=init,
                   shape=shape), init


@settings(max_examples=100, **SETTINGS)
@given(pair=float_with_valid_init())
@example(pair=(hj.float(-0.5, 0.5, precision=1, init=-0.5), -0.5))  # a negative lower bound on the grid
@example(pair=(hj.float(-0.113, 0.0, precision=3, init=-0.113, shape=(3,)), -0.113))
@example(pair=(hj.float(1e-3, 1.0, fmt="0.1g", init=0.3), 0.3))
@example(pair=(hj.float(-54.2, 0.99999, init=0.99999), 0.99999))
def test_float_round_trip_returns_the_initial_value(pair):
    param, init = pair
    space = Space({"x": param})
    decoded = np.asarray(space.decode(space.initial_encoding())[0])
    value = space.to_python((decoded,), {})["x"]
    message = (describe(param), value, init)
    if param.precision is not None and param.shape == ():
        assert value == init, message  # a grid value comes back as exactly that decimal
    else:  # float32 inside jit: a few ulps of the range
        assert np.all(np.abs(np.asarray(value, np.float64) - init) <= float_tolerance(param, init)), message


@st.composite
def int_with_valid_init(draw):
    param = draw(ints())
    level = draw(st.sampled_from([0, -1, None]))
    levels = int(np.min(param.levels))
    index = levels - 1 if level == -1 else 0 if level == 0 else draw(st.integers(0, levels - 1))
    init = int(param.value_of_index(np.asarray(index)).reshape(-1)[0])
    return declare(hj.int, param.lb, param.ub, init=init, multiple_of=param.multiple_of, power_of=param.power_of,
                   shape=param.shape), init


@settings(max_examples=100, **SETTINGS)
@given(pair=int_with_valid_init())
def test_int_round_trip_returns_the_initial_value(pair):
    param, init = pair
    space = Space({"x": param})
    value = space.to_python(tuple(np.asarray(v) for v in space.decode(space.initial_encoding())), {})["x"]
    assert np.all(np.asarray(value) == init), (describe(param), value, init)
    check_python(param, value)


@settings(max_examples=60, **SETTINGS)
@given(param=choices())
@example(param=hj.bool(True))
@example(param=hj.choice(16, 32, 64, init=64))
def test_choice_round_trip_returns_the_initial_value(param):
    space = Space({"x": param})
    value = space.to_python(tuple(np.asarray(v) for v in space.decode(space.initial_encoding())), {})["x"]
    expected = param.options[param.init_index]
    assert value == expected and type(value) is type(expected), (describe(param), value)


@settings(max_examples=100, **SETTINGS)
@given(param=st.one_of(linear_floats(), ints(), log_floats()))
def test_default_initial_value_is_inside_bounds_and_survives_the_round_trip(param):
    space = Space({"x": param})
    default = initial_value(param)
    check_raw(param, np.asarray(default, np.float32 if isinstance(param, d.FloatParameter) else np.int64))
    decoded = np.asarray(space.decode(space.initial_encoding())[0], np.float64)
    default = np.asarray(default, np.float64)
    if isinstance(param, d.IntParameter):
        np.testing.assert_array_equal(decoded, default, err_msg=describe(param))
    else:
        assert np.all(np.abs(decoded - default) <= float_tolerance(param, default) + 3 * np.spacing(
            np.float32(np.abs(default)))), (describe(param), decoded, default)


@settings(max_examples=100, **SETTINGS)
@given(data=st.data(), param=st.one_of(linear_floats(SCALAR), log_floats(SCALAR)))
def test_scalar_float_python_values_lie_inside_the_declared_bounds(data, param):
    # the objective gets Python floats; they must respect the float64 bounds the user declared, not only
    # the float32-rounded bounds used inside jit
    space = Space({"x": param})
    z = data.draw(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0, width=32)))
    decoded = np.asarray(space.decode((np.float32(z),))[0])
    value = space.to_python((decoded,), {})["x"]
    assert float(param.lb) <= value <= float(param.ub), (describe(param), value)


@settings(max_examples=60, **SETTINGS)
@given(param=log_floats(SCALAR).filter(lambda p: p.precision is not None),
       z=st.floats(0.0, 1.0, width=32))
def test_log_grid_python_values_are_short_decimals(param, z):
    # fmt="0.1g" promises 1 significant digit: the objective should see 0.3, not 0.30000000000000004
    space = Space({"x": param})
    value = space.to_python((np.asarray(space.decode((np.float32(z),))[0]),), {})["x"]
    assert value == float(f"{value:.{param.precision}g}"), (describe(param), value)


# ---------------------------------------------------------------------------------------------------------------
# the whole algorithm: one jitted ask over a space of every type, random states


ZOO_TEMPLATE = {
    "lin": hj.float(-3.3, 7.1),
    "lin_grid": hj.float(-0.55, 0.5, precision=1),
    "log": hj.float(1e-5, 1e-1, log=True),
    "log_grid": hj.float(2e-4, 3.0, fmt="0.1g"),
    "free": hj.float(),
    "arr": hj.float(np.array([0.0, -1.0, 10.0]), np.array([1.0, 1.0, 20.0]), shape=(3,)),
    "int": hj.int(-7, 13),
    "mult": hj.int(1, 10, multiple_of=4),
    "pow": hj.int(10, 1000, power_of=2),
    "int_arr": hj.int(0, 50, multiple_of=5, shape=(2, 2)),
    "nominal": hj.choice("a", "b", "c"),
    "ordinal": hj.choice(1, 2, 4, 8, is_ordinal=True),
    "flag": hj.bool(),
    "big": hj.float(0, 1, shape=(100,)),
}
ZOO = Space(ZOO_TEMPLATE)
ZOO_ALGO = hj.hopper(ZOO)
ZOO_P = 16
_zoo_ask = jax.jit(lambda key, state, progress, heat: ZOO_ALGO.decode(ZOO_ALGO.ask(key, state, progress, heat)))
_ZOO_PARAMS = [ZOO.leaves[i].param for i in ZOO.array_leaves]


@st.composite
def zoo_states(draw):
    """A random incumbent: every leaf at a random valid encoding (often at the ends of its range)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    best = []
    for i in ZOO.array_leaves:
        encoding = ZOO.leaves[i].encoding
        if isinstance(encoding, Continuous):
            z = rng.choice([0.0, 1.0, 0.5, -1.0], size=encoding.shape, p=[0.2, 0.2, 0.1, 0.5])
            z = np.where(z < 0, rng.uniform(size=encoding.shape), z)
        elif isinstance(encoding, Unbounded):
            z = rng.normal(size=encoding.shape) * 10.0 ** rng.integers(-3, 4)
        else:
            top = np.broadcast_to(encoding.levels, encoding.shape) - 1
            z = np.where(rng.uniform(size=encoding.shape) < 0.3, rng.integers(0, 2, encoding.shape) * top,
                         np.floor(rng.uniform(size=encoding.shape) * (top + 1)))
        best.append(jnp.asarray(z, encoding.dtype))
    state = ZOO_ALGO.init()
    return state._replace(best=tuple(best), log_step=jnp.float32(draw(st.floats(-12.0, 1.0))),
                          best_score=jnp.float32(0.0))


@settings(max_examples=25, **SETTINGS)
@given(state=zoo_states(), seed=st.integers(0, 2**31 - 1),
       progress=st.lists(st.floats(0.0, 1.0), min_size=ZOO_P, max_size=ZOO_P),
       heat=st.sampled_from([1.0, 1.0, 3.0]))
def test_ask_populations_decode_in_bounds_and_on_grid(state, seed, progress, heat):
    decoded = _zoo_ask(jax.random.key(seed), state, jnp.asarray(progress, jnp.float32), jnp.float32(heat))
    for param, values in zip(_ZOO_PARAMS, decoded):
        values = np.asarray(values)
        assert values.shape[0] == ZOO_P
        check_raw(param, values)
    nominal = np.asarray(decoded[ZOO.array_leaves.index(ZOO.leaf_index(ZOO_TEMPLATE["nominal"]))])
    assert set(nominal.tolist()) <= {0, 1, 2}
    ordinal = np.asarray(decoded[ZOO.array_leaves.index(ZOO.leaf_index(ZOO_TEMPLATE["ordinal"]))])
    assert set(ordinal.tolist()) <= {1, 2, 4, 8}
