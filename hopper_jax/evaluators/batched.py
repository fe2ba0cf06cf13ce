"""JAX objectives evaluated a population at a time: jit(vmap(objective)), compiled once per run.

With several devices the population axis is split over a 1-D mesh ('pop') by `jax.jit` with `NamedSharding`
(no pmap); with `chunk_size` it is evaluated in sequential chunks by `jax.lax.map`. Either way the caller
gets exactly P values: padded rows (copies of row 0) are dropped.

An objective with a parameter named `key` gets one PRNG key per row (`keys`, supplied by the caller): the
keys travel as one more leaf of the population, so padding, sharding and chunking move them with their rows.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._background import Background
from ..space.compile import Space
from .sharding import Layout, check_chunk_size, mesh_of, pad_rows, resolve_devices, row_sharding, shard_rows, to_host

MODES = ("python", "jax", "jax-batched")
#: Jitted objectives kept for later runs (a second run, or another Search over an equal space, of the same
#: objective does not trace and compile it again).
BUILT_SIZE = 8
_built: OrderedDict[tuple, tuple] = OrderedDict()


def clear() -> None:
    """Forget the objectives built in this process (their jitted functions and executables)."""
    for _, ahead, _ in _built.values():
        for pending in ahead.values():
            pending.result()  # a compile in flight finishes first
    _built.clear()


def _cache_key(objective, mode, kwargs, space, devices, chunk_size) -> tuple | None:
    """What a jitted objective depends on, hashable; None when something in it cannot be compared."""
    try:
        key = (objective, mode, tuple(sorted(kwargs.items())), space.signature(), space.constants_key(),
               tuple(d.id for d in devices), chunk_size)
        hash(key)
    except TypeError:
        return None
    return None if None in key[3:5] else key


def takes_key(objective: Callable[..., Any]) -> bool:
    """True if `objective` has a parameter named `key` (it then gets a PRNG key per candidate)."""
    try:
        parameter = inspect.signature(objective).parameters.get("key")
    except (TypeError, ValueError):  # no signature (some builtins): it takes no key
        return False
    return parameter is not None and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)


class BatchedEvaluator:
    """Evaluates a whole population of decoded values in one jitted call.

    mode='jax': `objective(candidate) -> scalar` for one candidate dict; it is vmapped.
    mode='jax-batched': `objective(population) -> (P,)`, where every leaf has a leading population axis
    (for users who vmap themselves, e.g. rollouts sharing environment keys across the population).
    devices: None → `jax.local_devices()`; with D > 1 devices each holds P/D rows (P padded up to a multiple
      of D with copies of row 0). In a multi-process run pass `jax.devices()` to split over every host.
    chunk_size: None, or evaluate c rows at a time (c rounded up to a multiple of D), for populations that do
      not fit in memory at once.
    With D > 1 or chunk_size, a 'jax-batched' objective sees the padded population (or one (c, ...) chunk at
    a time), so its rows must not depend on each other; the padded rows' values are dropped.
    Keys: if the objective has a parameter named `key` (`takes_key`), each call needs `keys`, a (P,) array of
    typed PRNG keys (`jax.random.split(key, P)`); mode='jax' calls `objective(candidate, key=keys[i])` per
    row, mode='jax-batched' `objective(population, key=keys)`.
    """

    capacity = 2  # generations in flight: the host books one while the device evaluates the next

    def __init__(self, objective: Callable[..., Any], space: Space, mode: str, kwargs: dict[str, Any] | None = None,
                 devices: Sequence[Any] | None = None, chunk_size: int | None = None):
        if not callable(objective):
            raise ValueError(f"The objective must be callable, got {objective!r}")
        kwargs = dict(kwargs or {})
        self.takes_key = takes_key(objective)
        if self.takes_key and "key" in kwargs:
            raise ValueError("kwargs has an entry 'key', but the objective's `key` parameter receives a PRNG key "
                             "per candidate from the search; rename that keyword argument.")
        self.space, self.mode = space, mode
        self.devices = resolve_devices(devices)
        self.chunk_size = check_chunk_size(chunk_size)
        self._move = devices is not None  # one given device: values are moved there first
        # devices of other processes (multi-host): rows reach them through the host, each process its own
        self._multiprocess = any(d.process_index != jax.process_index() for d in self.devices)
        self.last_output: jax.Array | None = None  # the last device output, padding included (for inspection)

        def call(values, keys):  # keys: None, one key ('jax') or (P,) keys ('jax-batched')
            return objective(space.jax_tree(values), **kwargs, **({} if keys is None else {"key": keys}))

        with_keys = self.takes_key

        def population(leaves):  # the decoded values, then the (P,) keys if the objective takes them
            values, keys = (leaves[:-1], leaves[-1]) if with_keys else (leaves, None)
            if mode == "jax-batched":
                return call(values, keys)
            return jax.vmap(call)(values, keys)

        self._population = population
        self._mesh = None if self._plain else mesh_of(self.devices)
        self._rows = None if self._plain else row_sharding(self._mesh, self.chunk_size is not None)
        self.cache_key = key = _cache_key(objective, mode, kwargs, space, self.devices, self.chunk_size)
        if key is not None and key in _built:
            _built.move_to_end(key)
            built = _built[key]
        else:
            # the jitted function, executables compiled by `compile_ahead`, and the population function itself
            # (one object per objective, so that `check` traces an objective it has seen from JAX's cache)
            built = (self._build(), {}, population)
            if key is not None:
                _built[key] = built
                while len(_built) > BUILT_SIZE:
                    _built.popitem(last=False)
        self._compiled, self._ahead, self._population = built

    # ---- compiled functions (built once; jit caches one executable per population shape) ---------------
    @property
    def _plain(self) -> bool:
        """One device and no chunks: values evaluated where they are."""
        return len(self.devices) == 1 and self.chunk_size is None

    def _build(self) -> Callable:
        if self._plain:
            return jax.jit(self._population)
        return jax.jit(self._laid_out, in_shardings=(self._rows,), out_shardings=self._rows)

    def _laid_out(self, leaves: tuple) -> jax.Array:
        """Values of padded rows split over the devices: (padded,), or (chunks, chunk) one chunk at a time."""
        if self.chunk_size is None:
            return self._population(leaves)
        chunk_rows = row_sharding(self._mesh, chunked=False)
        return jax.lax.map(lambda chunk: self._population(jax.lax.with_sharding_constraint(chunk, chunk_rows)),
                           leaves)

    def compile_ahead(self, values: tuple, keys: Any = None) -> None:
        """Start compiling the objective for `values` (P rows; shapes suffice) in a background thread, so that
        it compiles while the search compiles its own functions (on one device, without chunks).

        A later call on arrays of these shapes waits for it and runs it; if that compile fails, or the arrays
        differ in a way it was not compiled for, the call compiles as usual (and reports any error then).
        """
        if not self._plain or self._compiled._cache_size() > 0:  # an equal objective ran without it
            return
        if self.takes_key and keys is None:
            keys = jax.eval_shape(lambda: jax.random.split(jax.random.key(0), values[0].shape[0]))
        leaves = self._leaves(values, keys)
        signature = _signature(leaves)
        if signature not in self._ahead:
            self._ahead[signature] = _compile_ahead(self._compiled, leaves)

    def _run_plain(self, leaves: tuple) -> jax.Array:
        ahead = self._ahead.get(_signature(leaves)) if self._ahead else None
        executable = ahead.result() if ahead is not None else None
        if executable is not None:
            try:
                return executable(leaves)
            except (TypeError, ValueError):  # e.g. committed to another device than it was compiled for
                pass
        return self._compiled(leaves)

    def traced(self, values: tuple, keys: jax.Array | None = None) -> jax.Array:
        """The (P,) objective values of `values` inside another jitted function (JAX mode's fused scan)."""
        leaves = self._leaves(values, keys)
        if self._plain or not leaves:
            return self._population(leaves)
        layout = self.layout(leaves[0].shape[0])
        padded = pad_rows(leaves, layout.padded, None if self.chunk_size is None else layout.chunks)
        output = self._laid_out(jax.lax.with_sharding_constraint(padded, self._rows))
        return jax.lax.with_sharding_constraint(output, self._rows).reshape(-1)[: layout.size]

    def layout(self, size: int) -> Layout:
        """How `size` rows are padded and chunked on this evaluator's devices."""
        return Layout(size, len(self.devices), self.chunk_size)

    def _leaves(self, values: tuple[jax.Array, ...], keys: jax.Array | None) -> tuple[jax.Array, ...]:
        """`values`, plus the checked (P,) typed keys if the objective takes a key (else `keys` is ignored)."""
        if not self.takes_key:
            return values
        size = values[0].shape[0] if values else None
        if keys is None:
            raise ValueError("The objective has a `key` parameter, so every evaluation needs one PRNG key per "
                             "candidate: call the evaluator with keys=jax.random.split(key, population_size).")
        if not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
            keys = jax.random.wrap_key_data(keys)  # raw uint32 key data, e.g. from jax.random.PRNGKey
        if keys.ndim != 1 or (size is not None and keys.shape[0] != size):
            raise ValueError(f"keys must hold one PRNG key per candidate, shape ({size},) (e.g. "
                             f"jax.random.split(key, {size})); got shape {keys.shape}.")
        return (*values, keys)

    # ---- checks and evaluation ----------------------------------------------------------------------
    def check(self, values: tuple[jax.Array, ...], keys: jax.Array | None = None) -> jax.ShapeDtypeStruct:
        """Trace the objective on `values` (P rows, arrays or shapes) before the search; explain what is wrong
        if it fails; return the shape and dtype of its values.

        A key-taking objective is traced with `keys`, or with placeholder keys if none are given.
        """
        size = values[0].shape[0] if values else 1
        if self.takes_key and keys is None:
            keys = jax.eval_shape(lambda: jax.random.split(jax.random.key(0), size))
        leaves = self._leaves(values, keys)
        try:
            result = jax.eval_shape(self._population, leaves)
        except Exception as error:  # noqa: BLE001 - re-raised with advice
            raise ValueError(
                f"The objective cannot be traced by JAX, which mode={self.mode!r} needs ({type(error).__name__}: "
                f"{error}). Write it with jax.numpy and without Python control flow on its inputs or "
                f"float()/numpy conversions, or run it with mode='python'."
            ) from error
        expected = "a scalar per candidate" if self.mode == "jax" else f"an array of shape ({size},)"
        if not isinstance(result, jax.ShapeDtypeStruct) or result.shape != (size,):
            shape = getattr(result, "shape", type(result).__name__)
            raise ValueError(f"The objective must return {expected}; it returned shape {shape} "
                             f"(mode={self.mode!r}).")
        if not jnp.issubdtype(result.dtype, jnp.floating) and not jnp.issubdtype(result.dtype, jnp.integer):
            raise ValueError(f"The objective must return real numbers, it returned dtype {result.dtype}.")
        return result

    def __call__(self, values: tuple[jax.Array, ...], keys: jax.Array | None = None) -> np.ndarray:
        """(P,) float64 objective values on the host, for `values` = tuple of (P, ...) decoded leaves.

        keys: (P,) typed PRNG keys, one per row, for an objective that takes `key` (ignored otherwise).
        """
        return np.asarray(jax.device_get(self.dispatch(values, keys)), dtype=np.float64)

    def dispatch(self, values: tuple[jax.Array, ...], keys: jax.Array | None = None) -> jax.Array:
        """The (P,) objective values of `values`, as an array on the default device (being computed); with
        devices of other processes, gathered on the host."""
        leaves = self._leaves(values, keys)
        default = jax.local_devices()[0]
        if self._plain or not leaves:
            moved = jax.device_put(leaves, self.devices[0]) if self._move and leaves else leaves
            self.last_output = output = self._run_plain(moved)
        else:
            layout = self.layout(leaves[0].shape[0])
            padded = pad_rows(leaves, layout.padded, None if self.chunk_size is None else layout.chunks)
            if self._multiprocess:
                padded = jax.device_get(padded)
            self.last_output = self._compiled(jax.device_put(padded, self._rows))
            if not self.last_output.is_fully_addressable:  # spread over several processes: gathered on the host
                return to_host(self.last_output, layout.size)
            output = self.last_output.reshape(-1)[: layout.size]
        return output if output.sharding == jax.sharding.SingleDeviceSharding(default) else \
            jax.device_put(output, default)

    def answer(self, payload: tuple) -> jax.Array:
        """The driver's protocol for evaluators that answer at once: dispatch the evaluation of `payload` =
        (values, keys or None); the result is a device array still being computed."""
        return self.dispatch(*payload)

    def __enter__(self) -> BatchedEvaluator:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    # ---- what the last evaluation looked like (for tests and diagnostics) ------------------------------
    @property
    def last_sharding(self) -> jax.sharding.Sharding | None:
        """The sharding of the last device output (padded rows included), or None before any call."""
        return None if self.last_output is None else self.last_output.sharding

    def last_shards(self) -> list[tuple[int, int]]:
        """(device id, values held) for each shard of the last output on this process's devices."""
        return shard_rows(self.last_output)


def _signature(leaves: tuple) -> tuple:
    return tuple((leaf.shape, str(leaf.dtype)) for leaf in leaves)


def _compile_ahead(jitted: Callable, leaves: tuple) -> Background:
    """`jitted` compiled for the shapes of `leaves` in a background thread (`result()`: the executable or None)."""
    shapes = tuple(jax.ShapeDtypeStruct(leaf.shape, leaf.dtype) for leaf in leaves)
    return Background(lambda: jitted.lower(shapes).compile(), name="hopper_jax-compile-objective")
