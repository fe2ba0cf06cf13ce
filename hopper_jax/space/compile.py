"""Compile a template (nested dicts/lists of declarations and constants) into a `Space`.

A `Space` is the static structure of the template plus one `Leaf` per parameter, in traversal order
(dict insertion order, lists in order; a choice comes before the parameters inside its options). Leaves
of built-in types carry a jittable `Encoding`; Python-side leaves (`custom`, `Parameter` subclasses, and
built-ins with `seeding_fn`/`mutation_fn`) are driven by the shell.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import declarations as d
from .encodings import Continuous, Discrete, Encoding, Unbounded

Path = tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One parameter: where it sits, how it is encoded, and when it is active."""

    path: Path
    param: d.Parameter
    encoding: Encoding | None  # None: the value is a Python object held by the shell
    conditions: tuple[tuple[int, int], ...]  # (index of a choice leaf, option index) that must all hold

    @property
    def host_driven(self) -> bool:
        """True when phase-1/phase-2 values come from Python functions rather than the jitted core."""
        return self.encoding is None or getattr(self.param, "has_hooks", False)


def encoding_of(param: d.Parameter) -> Encoding | None:
    if isinstance(param, d.FloatParameter):
        if param.float64 and not jax.config.jax_enable_x64:
            raise ValueError('float(dtype="float64") needs 64-bit JAX: call jax.config.update("jax_enable_x64", '
                             'True) at the start of the program, before any JAX array is made (or drop dtype= '
                             'to search in float32).')
        if param.lb is None:
            return Unbounded(param.shape, param.float64)
        grid = None if param.precision is None else d.grid_limits(param.lb, param.ub, param.precision, param.log)
        return Continuous(param.lb, param.ub, param.log, param.precision, grid, param.shape, param.float64)
    if isinstance(param, d.IntParameter):
        return Discrete(param.levels, param.shape, first=param.first, step=param.step, base=param.power_of)
    if isinstance(param, d.ChoiceParameter):
        return Discrete(np.int64(len(param.options)), (), ordinal=param.is_ordinal, table=_numeric_table(param))
    return None


def _numeric_table(param: d.ChoiceParameter) -> np.ndarray | None:
    """Options as a numeric array when all are plain numbers (the value appears inside jit), else None."""
    options = param.options
    if all(isinstance(o, bool | np.bool_) for o in options):
        return np.asarray(options, dtype=bool)
    if all(isinstance(o, numbers.Integral) and not isinstance(o, bool) for o in options):
        return np.asarray(options, dtype=np.int32)
    if all(isinstance(o, numbers.Real) and not isinstance(o, bool) for o in options):
        return np.asarray(options, dtype=np.float32)
    return None


def _frozen(value: Any) -> Any:
    """A hashable, comparable copy of an encoding setting; TypeError for a type it does not know."""
    if isinstance(value, dict):
        return tuple((k, _frozen(v)) for k, v in sorted(value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        return array.dtype.str, array.shape, array.tobytes()
    raise TypeError(f"cannot compare {type(value).__name__}")


def contains_parameter(node: Any) -> bool:
    if isinstance(node, dict):
        return any(contains_parameter(v) for v in node.values())
    if isinstance(node, list):
        return any(contains_parameter(v) for v in node)
    return isinstance(node, d.Parameter)


class Space:
    """The compiled search space. Built once per `Search`; jittable functions close over it."""

    def __init__(self, template: Any):
        self.template = template
        self.leaves: list[Leaf] = []
        self._leaf_of_node: dict[int, int] = {}
        self._collect(template, (), ())
        self.array_leaves = [i for i, leaf in enumerate(self.leaves) if leaf.encoding is not None]
        self._python_builder = None
        self._positions: dict[int, int] | None = None
        #: {path: init} for inits outside their bounds: evaluated as given, the search goes on from them inside
        self.initial_overrides = {}
        for i in self.array_leaves:
            leaf = self.leaves[i]
            if leaf.param.initial_value is not None and self.outside(i, leaf.param.initial_value):
                warn_outside(leaf, leaf.param.initial_value, "init")
                if not leaf.conditions:
                    value = np.asarray(leaf.param.initial_value)
                    self.initial_overrides[leaf.path] = value.item() if value.ndim == 0 else value

    def _collect(self, node: Any, path: Path, conditions: tuple[tuple[int, int], ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                self._collect(value, path + (key,), conditions)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                self._collect(value, path + (i,), conditions)
        elif isinstance(node, d.Parameter):
            if id(node) in self._leaf_of_node:
                raise ValueError(f"The same parameter object appears twice in the template (at {path}); "
                                 f"declare a separate parameter for each place.")
            index = len(self.leaves)
            self._leaf_of_node[id(node)] = index
            self.leaves.append(Leaf(path, node, encoding_of(node), conditions))
            if isinstance(node, d.ChoiceParameter):
                for option_index, option in enumerate(node.options):
                    if contains_parameter(option):
                        self._collect(option, path + (option_index,), conditions + ((index, option_index),))

    @functools.cached_property
    def float64(self) -> bool:
        """True when a parameter searches in float64 coordinates (`float(..., dtype="float64")`)."""
        return any(getattr(leaf.encoding, "float64", False) for leaf in self.leaves)

    @property
    def score_dtype(self) -> type:
        """The type in which the core compares objective values: float64 under 64-bit JAX (`jax_enable_x64`) or
        with float64 coordinates, else float32. float32 resolves a value to about 6e-8 of its size: an objective
        with a large offset (COCO's f_opt of 80 or 400) stops improving near 1e-5 above its optimum."""
        return np.float64 if self.float64 or jax.config.jax_enable_x64 else np.float32

    def leaf_index(self, param: d.Parameter) -> int:
        return self._leaf_of_node[id(param)]

    def outside(self, index: int, value: Any) -> bool:
        """True when `value` (an init or a guess) is a number, or array of numbers, outside leaf `index`'s bounds."""
        param = self.leaves[index].param
        if not isinstance(param, d.FloatParameter | d.IntParameter) or param.lb is None:
            return False
        try:
            array = np.asarray(value, np.float64)
        except (TypeError, ValueError):
            return False
        return bool(np.any(array < param.lb) or np.any(array > param.ub))

    def project_leaf(self, index: int, value: Any) -> np.ndarray:
        """Encoding of a value from a user's seeding/mutation function, moved onto the space if outside.

        Floats are clipped to the bounds (the grid is applied on decode); integers go to the nearest
        level; a choice function returns an option index, which is clipped to the options.
        """
        param, encoding = self.leaves[index].param, self.leaves[index].encoding
        if isinstance(param, d.ChoiceParameter):
            return encoding.encode(np.clip(np.round(np.asarray(value, np.float64)), 0, len(param.options) - 1))
        if isinstance(param, d.IntParameter):
            value = np.broadcast_to(np.asarray(value, np.float64), param.shape)
            if param.power_of is not None:
                value = np.log(np.maximum(value, 1)) / np.log(param.power_of)
            level = np.round((value - param.first) / param.step)
            return encoding.encode(np.clip(level, 0, param.levels - 1))
        value = np.asarray(value, np.float64)
        return encoding.encode(value if param.lb is None else np.clip(value, param.lb, param.ub))

    def signature(self) -> tuple | None:
        """Everything jitted code reads from this space, hashable: equal signatures compile to the same code.

        Per leaf: its path, whether the shell drives it, its conditions and its encoding's settings (class,
        bounds, scale, grid, shape, levels, option table). None when an encoding holds a setting of a type
        this cannot compare.
        """
        try:
            return tuple((leaf.path, leaf.host_driven, leaf.conditions,
                          None if leaf.encoding is None else (type(leaf.encoding).__qualname__,
                                                              _frozen(vars(leaf.encoding))))
                         for leaf in self.leaves)
        except TypeError:
            return None

    def constants_key(self) -> tuple | None:
        """The template's constants (everything but parameters) with their paths, hashable; None when one
        cannot be compared. With `signature()` it decides whether two spaces build the same JAX values."""
        constants = []

        def walk(node: Any, path: Path) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    walk(value, path + (key,))
            elif isinstance(node, list):
                for i, value in enumerate(node):
                    walk(value, path + (i,))
            elif not isinstance(node, d.Parameter):
                constants.append((path, type(node).__name__, _frozen(node)))

        try:
            walk(self.template, ())
            return tuple(constants)
        except TypeError:
            return None

    # ---- sizes -------------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of free parameters (PyHopper's `free_param_count`: a choice counts once)."""
        return len(self.leaves)

    @property
    def array_size(self) -> int:
        """Total number of array elements of the jitted leaves."""
        return sum(self.leaves[i].encoding.size for i in self.array_leaves)

    @functools.cached_property
    def host_driven(self) -> bool:
        """True when some parameter's values come from Python functions (custom types, user fns)."""
        return any(leaf.host_driven for leaf in self.leaves)

    @property
    def has_conditions(self) -> bool:
        return any(leaf.conditions for leaf in self.leaves)

    # ---- initial value, encode, decode --------------------------------------------------------------
    def initial_encoding(self) -> tuple[np.ndarray, ...]:
        """Internal encoding of every array leaf's initial value (declared init or default)."""
        return tuple((self.project_leaf if self.outside(i, value) else self.encode_leaf)(i, value)
                     for i, value in ((i, initial_value(self.leaves[i].param)) for i in self.array_leaves))

    def initial_objects(self) -> dict[int, Any]:
        return {i: leaf.param.initial_value for i, leaf in enumerate(self.leaves) if leaf.encoding is None}

    def encode_leaf(self, index: int, value: Any) -> np.ndarray:
        """Encoding of a user value for leaf `index`; `ValueError` naming the leaf when invalid."""
        leaf = self.leaves[index]
        param, encoding = leaf.param, leaf.encoding
        if isinstance(param, d.ChoiceParameter):
            return encoding.encode(option_index(param, value, leaf.path))
        if isinstance(param, d.IntParameter):
            array = _checked_array(value, param.shape, leaf.path)
            if array.dtype.kind == "f" and not np.all(array == np.round(array)):
                raise ValueError(f"Value {value!r} for {_name(leaf.path)} is not an integer (an init of it would "
                                 f"be refused too); pass an int, e.g. {np.round(array).astype(np.int64).tolist()!r}")
            level = param.index_of_value(array)
            if np.any(level < 0) or np.any(level >= param.levels) or np.any(np.asarray(value) < param.lb) \
                    or np.any(np.asarray(value) > param.ub):
                raise ValueError(f"Value {value!r} for {_name(leaf.path)} is not on its integer grid within "
                                 f"[{param.lb.tolist()}, {param.ub.tolist()}]")
            return encoding.encode(level)
        value = _checked_array(value, param.shape, leaf.path)
        if param.lb is not None and (np.any(value < param.lb) or np.any(value > param.ub)):
            raise ValueError(f"Value {value.tolist()!r} for {_name(leaf.path)} lies outside its bounds "
                             f"[{param.lb.tolist()}, {param.ub.tolist()}]")
        return encoding.encode(value)

    def decode(self, encoded: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        """Numeric values (jittable) of one candidate's array leaves."""
        return tuple(self.leaves[i].encoding.decode(z) for i, z in zip(self.array_leaves, encoded))

    def active(self, encoded: tuple[jax.Array, ...]) -> jax.Array:
        """(n_leaves,) bool: which leaves are active given the choices made (jittable, one candidate)."""
        position = {leaf_index: j for j, leaf_index in enumerate(self.array_leaves)}
        flags = []
        for leaf in self.leaves:
            flag = jnp.bool_(True)
            for choice_index, option in leaf.conditions:
                flag &= encoded[position[choice_index]] == option
            flags.append(flag)
        return jnp.stack(flags) if flags else jnp.zeros((0,), bool)

    # ---- Python side --------------------------------------------------------------------------------
    def to_python(self, values: tuple[np.ndarray, ...], objects: dict[int, Any]) -> Any:
        """The user's dict for one candidate, from decoded numeric values (host numpy) and object leaves."""
        if self._python_builder is None:
            self._python_builder = self._builder(self.template)
        return self._python_builder(values, objects)

    def _builder(self, node: Any):
        """A function (values by array position, objects) → the user's value of `node`, built once."""
        if isinstance(node, dict):
            parts = [(key, self._builder(value)) for key, value in node.items()]
            return lambda values, objects: {key: build(values, objects) for key, build in parts}
        if isinstance(node, list):
            parts = [self._builder(value) for value in node]
            return lambda values, objects: [build(values, objects) for build in parts]
        if not isinstance(node, d.Parameter):
            return lambda values, objects: node
        index = self._leaf_of_node[id(node)]
        if self.leaves[index].encoding is None:
            return lambda values, objects: objects[index]
        position = self.array_leaves.index(index)
        if isinstance(node, d.ChoiceParameter) and any(contains_parameter(o) for o in node.options):
            options = [self._builder(o) if contains_parameter(o) else (lambda v, o_, o=o: o) for o in node.options]
            return lambda values, objects: options[int(values[position])](values, objects)
        return lambda values, objects: python_value(node, values[position])

    def jax_tree(self, values: tuple[jax.Array, ...]) -> Any:
        """The candidate as the user's nested dict with arrays at the leaves (inside jit; constants kept).

        A choice of numbers appears as its value, any other choice as its option index.
        """
        if any(leaf.encoding is None for leaf in self.leaves) or self.has_conditions:
            raise ValueError("JAX mode needs every parameter to be a built-in int/float/choice/bool without "
                             "sub-tree options; custom parameters and conditional choices need mode='python'.")
        by_leaf = dict(zip(self.array_leaves, values))
        return self._build(self.template, lambda index, param: by_leaf[index])

    def build(self, value_of) -> Any:
        """The user's nested structure with array leaf j's value from `value_of(j)` (j: position among the
        array leaves; constants kept). For spaces without Python-side or conditional parameters."""
        if self._positions is None:
            self._positions = {leaf: j for j, leaf in enumerate(self.array_leaves)}
        positions = self._positions
        return self._build(self.template, lambda index, param: value_of(positions[index]))

    def _build(self, node: Any, leaf_value) -> Any:
        if isinstance(node, dict):
            return {key: self._build(value, leaf_value) for key, value in node.items()}
        if isinstance(node, list):
            return [self._build(value, leaf_value) for value in node]
        if not isinstance(node, d.Parameter):
            return node
        return leaf_value(self._leaf_of_node[id(node)], node)


def python_value(param: d.Parameter, value: np.ndarray) -> Any:
    """One decoded numeric value as the user declared it: scalar or array, the option object itself."""
    if isinstance(param, d.ChoiceParameter):
        table = _numeric_table(param)
        index = int(value) if table is None else int(np.flatnonzero(table == value)[0])
        return param.options[index]
    if isinstance(param, d.IntParameter):
        return int(value) if param.shape == () else np.asarray(value, np.int64)
    if param.shape != ():
        return np.asarray(value)
    if param.precision is not None:
        out = float(d.round_to_grid(float(value), param.precision, param.log))
    elif param.float64:
        out = float(value)
    else:
        out = float(str(np.float32(value)))  # the shortest decimal that is this float32
    return out if param.lb is None else min(max(out, float(param.lb)), float(param.ub))


def option_index(param: d.ChoiceParameter, value: Any, path: Path) -> int:
    for i, option in enumerate(param.options):
        if d._same_option(option, value):
            return i
    raise ValueError(f"Value {value!r} for {_name(path)} is not one of its options {list(param.options)!r}")


def initial_value(param: d.Parameter) -> Any:
    """The declared init, or the default: mid-range (linear), geometric mean (log), middle level (int)."""
    if isinstance(param, d.ChoiceParameter):
        return param.options[param.init_index]
    if param.initial_value is not None or not isinstance(param, d.FloatParameter | d.IntParameter):
        return param.initial_value
    if isinstance(param, d.IntParameter):
        return param.value_of_index(np.broadcast_to((param.levels - 1) // 2, param.shape))
    if param.lb is None:
        return np.zeros(param.shape)
    middle = np.sqrt(param.lb * param.ub) if param.log else (param.lb + param.ub) / 2
    if param.precision is not None:
        lo, hi = d.grid_limits(param.lb, param.ub, param.precision, param.log)
        middle = np.clip(d.round_to_grid(middle, param.precision, param.log), lo, hi)
    return np.broadcast_to(middle, param.shape)


def _checked_array(value: Any, shape: tuple[int, ...], path: Path) -> np.ndarray:
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError
        return np.broadcast_to(array, shape)
    except (TypeError, ValueError):
        raise ValueError(f"Value {value!r} for {_name(path)} must be a number or an array of shape "
                         f"{shape}") from None


def warn_outside(leaf: Leaf, value: Any, what: str) -> None:
    """PyHopper evaluates an init or a guess outside its parameter's bounds as given; so do we, and say so."""
    param = leaf.param
    how = ("it is evaluated as given in Python mode (as in PyHopper; JAX mode evaluates it placed inside)"
           if not leaf.conditions else "it is evaluated placed inside them")
    warnings.warn(f"hopper_jax: {what} {np.asarray(value).tolist()!r} for {_name(leaf.path)} lies outside its bounds "
                  f"[{param.lb.tolist()}, {param.ub.tolist()}]: {how}, and the search goes on from it placed "
                  f"inside the bounds.", UserWarning, stacklevel=4)


def _name(path: Path) -> str:
    return "parameter '" + "/".join(str(p) for p in path) + "'" if path else "the parameter"
