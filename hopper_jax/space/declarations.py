"""Parameter declarations: what a user writes in a search-space template.

A declaration only validates and records what was asked for; `hopper_jax.space.compile` turns it into a
jittable encoding. Every invalid declaration raises `ValueError` here, naming the argument to change.
"""

from __future__ import annotations

import builtins
import inspect
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .grids import ceil_log, exact_log, floor_log, grid_limits, round_to_grid

Shape = tuple[builtins.int, ...]

#: Bounds of an integer declared without bounds (int32 keeps inside jit; see docs).
DEFAULT_INT_BOUNDS = (-(2**30) + 1, 2**30 - 1)
_INT32 = np.iinfo(np.int32)
_NO_INIT = object()


class Parameter:
    """Base of every searchable parameter.

    Subclass it for a type that lives on the Python side (any object, e.g. a permutation or a torch
    tensor) and implement `sample()` (phase 1) and `mutate(value, temperature)` (phase 2, temperature
    in [0, 1]). Built-in types (`int`, `float`, `choice`, `bool`) are compiled to JAX instead.
    """

    def __init__(self, init: Any = None):
        self.initial_value = init

    def sample(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement sample() to be used in phase 1")

    def mutate(self, value: Any, temperature: builtins.float) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement mutate(value, temperature)")


def _call_mutation(fn: Callable, value: Any, temperature: builtins.float) -> Any:
    """Call a user mutation function with (value) or (value, temperature), whatever its arity."""
    try:
        n_args = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        n_args = 2
    return fn(value) if n_args == 1 else fn(value, temperature)


class _HookMixin:
    """User `seeding_fn` / `mutation_fn` for a built-in type; values are projected back onto the space."""

    seeding_fn: Callable[[], Any] | None
    mutation_fn: Callable[..., Any] | None

    @property
    def has_hooks(self) -> builtins.bool:
        return self.seeding_fn is not None or self.mutation_fn is not None

    def _check_hooks(self, name: str) -> None:
        for arg, fn in (("seeding_fn", self.seeding_fn), ("mutation_fn", self.mutation_fn)):
            if fn is not None and not callable(fn):
                raise ValueError(f"{name}({arg}=...) must be callable, got {fn!r}")


def _as_bounds(lb: Any, ub: Any, name: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """PyHopper's bound rules: one bound is the upper bound over [0, ub]; two are swapped if reversed."""
    if lb is None and ub is None:
        return None, None
    if lb is None or ub is None:
        upper = np.asarray(lb if ub is None else ub, dtype=np.float64)
        if np.any(upper <= 0):
            raise ValueError(
                f"{name}({upper.tolist()}): a single bound is the upper bound over [0, ub], so it must be "
                f"> 0. Pass both bounds, e.g. {name}(-5, 5)."
            )
        lb, ub = np.zeros_like(upper), upper
    lb, ub = np.asarray(lb, dtype=np.float64), np.asarray(ub, dtype=np.float64)
    if not (np.all(np.isfinite(lb)) and np.all(np.isfinite(ub))):
        raise ValueError(f"{name}: bounds must be finite numbers, got lb={lb.tolist()}, ub={ub.tolist()}")
    return _ordered(lb, ub, name)


def _ordered(lb: np.ndarray, ub: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) elementwise; PyHopper accepts reversed bounds, so do we, with a warning."""
    if np.any(lb > ub):
        warnings.warn(f"hopper_jax: {name}({lb.tolist()}, {ub.tolist()}) has its lower bound above its upper bound; "
                      f"it is read as {name}({np.minimum(lb, ub).tolist()}, {np.maximum(lb, ub).tolist()}).",
                      UserWarning, stacklevel=4)
    return np.minimum(lb, ub), np.maximum(lb, ub)


def _as_shape(shape: Any, *candidates: Any) -> Shape:
    """`shape` as a tuple; inferred from the last array among `candidates` when not given."""
    if shape is None:
        arrays = [np.shape(c) for c in candidates if isinstance(c, np.ndarray | list) or hasattr(c, "shape")]
        arrays = [s for s in arrays if s != ()]
        return tuple(arrays[-1]) if arrays else ()
    try:
        shape = (shape,) if isinstance(shape, builtins.int | np.integer) else tuple(shape)
    except TypeError:
        raise ValueError(f"shape must be a positive int or a tuple of positive ints, got {shape!r}") from None
    if any(not isinstance(s, builtins.int | np.integer) or s < 1 for s in shape):
        raise ValueError(f"shape must be a positive int or a tuple of positive ints, got {shape!r}")
    return tuple(builtins.int(s) for s in shape)


def _check_broadcast(shape: Shape, name: str, **arrays: Any) -> None:
    for arg, value in arrays.items():
        if value is None:
            continue
        try:
            np.broadcast_to(np.asarray(value), shape)
        except ValueError:
            raise ValueError(f"{name}: {arg} of shape {np.shape(value)} does not fit shape={shape}") from None


_FMT = re.compile(r"^:?\d*\.(\d+)([fg])$")


def _parse_fmt(fmt: str) -> tuple[builtins.int, builtins.bool]:
    """'0.2f' → (2 decimals, linear); '0.1g' → (1 significant digit, log)."""
    match = _FMT.match(fmt.strip()) if isinstance(fmt, str) else None
    if match is None:
        raise ValueError(
            f"Could not parse format string {fmt!r}. Use '0.Nf' for N decimals on a linear scale (e.g. "
            f"'0.2f') or '0.Ng' for N significant digits on a log scale (e.g. '0.1g')."
        )
    return builtins.int(match.group(1)), match.group(2) == "g"


class FloatParameter(Parameter, _HookMixin):
    """A real number or array: bounded (linear or log scale, optionally on a decimal grid) or unbounded."""

    def __init__(self, lb=None, ub=None, fmt=None, init=None, log=None, precision=None, shape=None,
                 mutation_fn=None, seeding_fn=None, dtype=None):
        self.float64 = _coordinate_type(dtype)
        if fmt is not None:
            if log is not None or precision is not None:
                raise ValueError("float(): pass either fmt or log/precision, not both (fmt sets both).")
            precision, log = _parse_fmt(fmt)
        self.log = builtins.bool(log)
        self.lb, self.ub = _as_bounds(lb, ub, "float")
        if precision is not None and (not isinstance(precision, builtins.int | np.integer) or precision < 0):
            raise ValueError(f"float(precision={precision!r}): precision must be a non-negative int")
        self.precision = None if precision is None else builtins.int(precision)
        self.shape = _as_shape(shape, init, lb, ub)
        self.mutation_fn, self.seeding_fn = mutation_fn, seeding_fn
        self._check_hooks("float")
        _check_broadcast(self.shape, "float", init=init, lb=self.lb, ub=self.ub)
        if self.lb is None:
            if self.log:
                raise ValueError("float(log=True) needs both bounds, e.g. float(1e-5, 1e-1, log=True).")
            if self.precision is not None:
                raise ValueError("float(precision=...) needs bounds, e.g. float(0, 1, precision=2).")
        elif self.log:
            if np.any(self.lb <= 0):
                raise ValueError(
                    f"float(log=True): both bounds must be > 0, got lb={self.lb.tolist()}. A log scale cannot "
                    f"reach 0; use e.g. float(1e-6, {self.ub.max():g}, log=True)."
                )
            if self.precision == 0:
                raise ValueError("float(log=True, precision=0): use at least 1 significant digit.")
        if self.precision is not None:
            lo, hi = grid_limits(self.lb, self.ub, self.precision, self.log)
            if np.any(lo > hi):
                raise ValueError(
                    f"float({self.lb.tolist()}, {self.ub.tolist()}): no value with precision {self.precision} "
                    f"lies inside the bounds; widen the bounds or raise the precision."
                )
        self.init = None if init is None else self._checked_init(init)
        super().__init__(self.init)

    def _checked_init(self, init: Any) -> np.ndarray:
        value = np.broadcast_to(np.asarray(init, dtype=np.float64), self.shape)
        if not np.all(np.isfinite(value)):
            raise ValueError(f"float(init={init!r}): init must be finite")
        outside = self.lb is not None and (np.any(value < self.lb) or np.any(value > self.ub))
        rounded = None if self.precision is None else round_to_grid(value, self.precision, self.log)
        if not outside and rounded is not None and not np.allclose(rounded, value, rtol=1e-6, atol=0):
            raise ValueError(
                f"float(init={init!r}) is not on the grid of precision {self.precision} "
                f"({'significant digits' if self.log else 'decimals'}); round it, e.g. {rounded.tolist()}"
            )
        return value


def _coordinate_type(dtype: Any) -> builtins.bool:
    """True for float64 search coordinates (`dtype="float64"`), False for the float32 default."""
    try:
        kind = None if dtype is None else np.dtype(dtype)
    except TypeError:
        kind = "unknown"
    if kind not in (None, np.float32, np.float64):
        raise ValueError(f"float(dtype={dtype!r}): the coordinate type is 'float32' (the default) or 'float64' "
                         f"(finer steps, under jax.config.update('jax_enable_x64', True))")
    return kind == np.float64


def _as_int_array(value: Any, arg: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise ValueError(f"int(): {arg} must be integers, got {value!r}")
    if np.any(array < _INT32.min) or np.any(array > _INT32.max):
        raise ValueError(f"int(): {arg}={value!r} does not fit in int32, the integer type used inside jit")
    return array.astype(np.int64)


class IntParameter(Parameter, _HookMixin):
    """An integer or integer array with inclusive bounds, optionally multiples of m or powers of p."""

    def __init__(self, lb=None, ub=None, init=None, multiple_of=None, power_of=None, shape=None,
                 seeding_fn=None, mutation_fn=None):
        if lb is None and ub is None:
            lb, ub = DEFAULT_INT_BOUNDS
        elif lb is None or ub is None:
            upper = _as_int_array(lb if ub is None else ub, "the bound")
            if np.any(upper <= 0):
                raise ValueError(
                    f"int({upper.tolist()}): a single bound is the upper bound over [0, ub], so it must be > 0. "
                    f"Pass both bounds, e.g. int(-5, 5)."
                )
            lb, ub = np.zeros_like(upper), upper
        lb, ub = _as_int_array(lb, "lb"), _as_int_array(ub, "ub")
        self.lb, self.ub = _ordered(lb, ub, "int")
        self.shape = _as_shape(shape, init, lb, ub)
        _check_broadcast(self.shape, "int", init=init, lb=self.lb, ub=self.ub)
        self.multiple_of = self._positive(multiple_of, "multiple_of", minimum=1)
        self.power_of = self._positive(power_of, "power_of", minimum=2)
        self.mutation_fn, self.seeding_fn = mutation_fn, seeding_fn
        self._check_hooks("int")
        self.first, self.step, self.levels = self._grid()
        self.init = None if init is None else self._checked_init(init)
        super().__init__(self.init)

    @staticmethod
    def _positive(value: Any, arg: str, minimum: builtins.int) -> builtins.int | None:
        if value is None:
            return None
        if not isinstance(value, builtins.int | np.integer) or value < minimum:
            hint = " (power_of=1 is no constraint; leave it out)" if arg == "power_of" and value == 1 else ""
            raise ValueError(f"int({arg}={value!r}): must be an int >= {minimum}{hint}")
        return builtins.int(value)

    def _grid(self) -> tuple[np.ndarray, builtins.int, np.ndarray]:
        """(first grid index value, step, number of levels); for power_of the index is the exponent."""
        m = self.multiple_of or 1
        if self.power_of is None:
            first = -((-self.lb) // m) * m
            last = (self.ub // m) * m
            levels = (last - first) // m + 1
            if np.any(levels < 1):
                raise ValueError(f"int({self.lb.tolist()}, {self.ub.tolist()}, multiple_of={m}): no multiple "
                                 f"of {m} lies inside the bounds; widen them.")
            if np.any(levels > _INT32.max):
                raise ValueError("int(): too many values for an int32 level index; narrow the bounds")
            return first, m, levels
        p = self.power_of
        if np.any(self.lb < 1):
            raise ValueError(f"int(power_of={p}) needs lb >= 1 (powers are positive), got lb={self.lb.tolist()}")
        min_exponent = 0
        if self.multiple_of is not None:
            min_exponent = exact_log(m, p)
            if min_exponent is None:
                raise ValueError(f"int(power_of={p}, multiple_of={m}): multiple_of must itself be a power of {p}")
        e_lo = np.vectorize(lambda v: ceil_log(builtins.int(v), p))(self.lb)
        e_hi = np.vectorize(lambda v: floor_log(builtins.int(v), p))(self.ub)
        e_lo = np.maximum(e_lo, min_exponent)
        if np.any(e_hi < e_lo):
            raise ValueError(f"int({self.lb.tolist()}, {self.ub.tolist()}, power_of={p}): no power of {p} "
                             f"lies inside the bounds; widen them.")
        return e_lo.astype(np.int64), 1, (e_hi - e_lo + 1).astype(np.int64)

    def value_of_index(self, index: np.ndarray) -> np.ndarray:
        raw = self.first + self.step * np.asarray(index, dtype=np.int64)
        return raw if self.power_of is None else np.power(np.int64(self.power_of), raw)

    def index_of_value(self, value: np.ndarray) -> np.ndarray:
        """Inverse of value_of_index; NaN-free int array, or -1 where value is off the grid."""
        value = np.asarray(value, dtype=np.int64)
        if self.power_of is None:
            offset = value - self.first
            return np.where(offset % self.step == 0, offset // self.step, -1)
        exponent = np.vectorize(lambda v: exact_log(builtins.int(v), self.power_of) if v > 0 else None,
                                otypes=[object])(value)
        exponent = np.where(exponent == None, -1, exponent).astype(np.int64)  # noqa: E711
        return np.where(exponent >= 0, exponent - self.first, -1)

    def _checked_init(self, init: Any) -> np.ndarray:
        value = np.broadcast_to(_as_int_array(init, "init"), self.shape)
        index = self.index_of_value(value)
        if np.any(value < self.lb) or np.any(value > self.ub):
            return value  # evaluated as given, as PyHopper does (the Space warns and places it inside)
        if np.any(index < 0) or np.any(index >= self.levels):
            raise ValueError(
                f"int(init={init!r}) is not a valid value: it must lie in [{self.lb.tolist()}, {self.ub.tolist()}]"
                + (f" and be a multiple of {self.multiple_of}" if self.multiple_of else "")
                + (f" and a power of {self.power_of}" if self.power_of else "")
            )
        return value


class ChoiceParameter(Parameter, _HookMixin):
    """One of several options: numbers, strings, objects, or sub-trees holding parameters (conditional)."""

    def __init__(self, *options, init_index=None, init=_NO_INIT, is_ordinal=False, mutation_fn=None,
                 seeding_fn=None):
        if len(options) == 1 and isinstance(options[0], list):
            options = tuple(options[0])
        if not options:
            raise ValueError("choice() needs at least one option, e.g. choice('adam', 'sgd')")
        self.options = tuple(options)
        self.is_ordinal = builtins.bool(is_ordinal)
        self.mutation_fn, self.seeding_fn = mutation_fn, seeding_fn
        self._check_hooks("choice")
        if init is not _NO_INIT:
            if init_index is not None:
                raise ValueError("choice(): pass init (an option) or init_index (its position), not both")
            matches = [i for i, option in enumerate(self.options) if _same_option(option, init)]
            if not matches:
                raise ValueError(f"choice(init={init!r}) is not one of the options {list(self.options)!r}")
            init_index = matches[0]
        if init_index is None:
            init_index = (len(self.options) - 1) // 2 if self.is_ordinal else 0
        if not isinstance(init_index, builtins.int | np.integer) or not 0 <= init_index < len(self.options):
            raise ValueError(f"choice(init_index={init_index!r}) must be an int in [0, {len(self.options) - 1}]")
        self.init_index = builtins.int(init_index)
        super().__init__(self.options[self.init_index])


def _same_option(option: Any, value: Any) -> builtins.bool:
    try:
        return builtins.bool(option is value or option == value)
    except (ValueError, TypeError):
        return False


class CustomParameter(Parameter):
    """A Python-side parameter defined by a seeding function and/or a mutation function."""

    def __init__(self, seeding_fn=None, mutation_fn=None, init=None):
        if seeding_fn is None and mutation_fn is None:
            raise ValueError("custom() needs seeding_fn and/or mutation_fn; a fixed value needs no parameter, "
                             "put it in the template as a constant.")
        for arg, fn in (("seeding_fn", seeding_fn), ("mutation_fn", mutation_fn)):
            if fn is not None and not callable(fn):
                raise ValueError(f"custom({arg}=...) must be callable, got {fn!r}")
        if init is None:
            if seeding_fn is None:
                raise ValueError("custom(mutation_fn=...) without seeding_fn needs init=, the value to start from")
            init = seeding_fn()
        self.seeding_fn, self.mutation_fn = seeding_fn, mutation_fn
        super().__init__(init)

    def sample(self) -> Any:
        if self.seeding_fn is None:
            return _call_mutation(self.mutation_fn, self.initial_value, 1.0)
        return self.seeding_fn()

    def mutate(self, value: Any, temperature: builtins.float) -> Any:
        if self.mutation_fn is None:
            return self.seeding_fn()
        return _call_mutation(self.mutation_fn, value, temperature)


# ---- factories: PyHopper's names (re-exported as hopper_jax.int / float / choice / bool / custom) ----

def integer(lb=None, ub=None, init=None, multiple_of=None, power_of=None, shape=None, seeding_fn=None,
            mutation_fn=None) -> IntParameter:
    """Integer(s) in [lb, ub] (inclusive); `multiple_of=m` or `power_of=p` restrict the grid."""
    return IntParameter(lb, ub, init, multiple_of, power_of, shape, seeding_fn, mutation_fn)


def real(lb=None, ub=None, fmt=None, init=None, log=None, precision=None, shape=None, mutation_fn=None,
         seeding_fn=None, dtype=None) -> FloatParameter:
    """Real number(s) in [lb, ub]; `fmt='0.2f'` → 0.01 grid, `fmt='0.1g'` → log scale, 1 significant digit.

    `dtype="float64"` searches in float64 coordinates (and compares objective values in float64): for
    minima sharper than float32's 1e-7 of the range. It needs `jax.config.update("jax_enable_x64", True)`
    before the search is built; values reach the objective as float64."""
    return FloatParameter(lb, ub, fmt, init, log, precision, shape, mutation_fn, seeding_fn, dtype)


def choice(*options, init_index=None, init=_NO_INIT, is_ordinal=False, mutation_fn=None,
           seeding_fn=None) -> ChoiceParameter:
    """One of `options`; `is_ordinal=True` moves to neighbours in phase 2, else to any other option."""
    return ChoiceParameter(*options, init_index=init_index, init=init, is_ordinal=is_ordinal,
                           mutation_fn=mutation_fn, seeding_fn=seeding_fn)


def boolean(init: builtins.bool | None = None) -> ChoiceParameter:
    """True or False, starting at `init` (True when not given)."""
    if init is not None and not isinstance(init, builtins.bool | np.bool_):
        raise ValueError(f"bool(init={init!r}) must be True or False")
    return ChoiceParameter(True, False, init_index=0 if init is None or init else 1)


def custom(seeding_fn=None, mutation_fn=None, init=None) -> CustomParameter:
    """A Python-side parameter: `seeding_fn()` samples, `mutation_fn(value[, temperature])` perturbs."""
    return CustomParameter(seeding_fn, mutation_fn, init)


def is_parameter(node: Any) -> builtins.bool:
    return isinstance(node, Parameter)


def free_parameter_count(template: Any) -> builtins.int:
    """Parameters reachable through dicts and lists (a choice counts once, its options not)."""
    if isinstance(template, dict):
        return sum(free_parameter_count(v) for v in template.values())
    if isinstance(template, list):
        return sum(free_parameter_count(v) for v in template)
    return 1 if is_parameter(template) else 0


__all__ = [
    "Parameter", "FloatParameter", "IntParameter", "ChoiceParameter", "CustomParameter",
    "integer", "real", "choice", "boolean", "custom", "free_parameter_count", "round_to_grid",
    "grid_limits",
]
