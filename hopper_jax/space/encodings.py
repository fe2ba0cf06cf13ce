"""Jittable encodings of array parameters.

Every built-in parameter lives inside jit in an internal encoding that is easy to perturb:

- `Continuous`: a float32 position `z` in the unit box [0, 1] (linear or log scale, optional grid);
- `Unbounded`: the float32 value itself;
- `Discrete`: an int32 level index `k` in [0, levels - 1] (integers, powers, choices).

`decode` maps the encoding to the numeric value the objective sees (inside bounds, on the grid).
`move` is the phase-2 step of a vector of selected elements; `perturb` picks which elements move.
All functions act on one candidate; the core vmaps them over the population.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import threefry_2x32

#: Standard deviation of a phase-2 step at temperature 1, as a fraction of a bounded range.
BOUNDED_STEP = 0.3
#: Standard deviation of a phase-2 step at temperature 1 for an unbounded float.
UNBOUNDED_STEP = 1.0


def mutation_cap(size: int) -> int:
    """Most elements of an array leaf that one phase-2 move changes (at temperature 1).

    Small leaves move like PyHopper's parameters (a temperature-sized share of all elements); large ones
    move a sub-linear number of elements, so that a step stays local in thousands to millions of
    dimensions and its cost is O(sqrt(size)) rather than O(size).
    """
    return size if size <= 16 else min(size, math.ceil(4 * math.sqrt(size)))


def reflect_unit(z: jax.Array) -> jax.Array:
    """Fold any real into [0, 1] by reflection at the walls (a triangle wave of period 2)."""
    z = jnp.mod(z, 2.0)
    return jnp.clip(jnp.where(z > 1.0, 2.0 - z, z), 0.0, 1.0)  # the clip catches denormal rounding


#: The largest |2u - 1| of a float32 uniform u from 23 random mantissa bits.
EDGE = 1.0 - 2.0**-22


def unit_uniforms(key: jax.Array, count: int) -> jax.Array:
    """`count` float32 uniforms in (0, 1) from one PRNG key; shape (count,).

    With a threefry key (JAX's default) both 32-bit words of every threefry block are used, counter mode:
    half the hashing of `jax.random.uniform`, which under JAX's default partitionable threefry spends a
    whole block per word; phase-1 sampling was 1.2-1.4x faster (benchmarks/RESULTS.md §7). Other key
    implementations go through `jax.random.uniform`.
    """
    tiny = float(np.finfo(np.float32).tiny)
    if str(jax.random.key_impl(key)) != "threefry2x32":
        return jax.random.uniform(key, (count,), jnp.float32, minval=tiny, maxval=1.0)
    bits = threefry_2x32(jax.random.key_data(key), jnp.arange(count, dtype=jnp.uint32))
    unit = jax.lax.bitcast_convert_type((bits >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0  # [0, 1)
    return jnp.maximum(unit, tiny)


class Draws:
    """Uniform draws in (0, 1) from one PRNG call, handed out in slices (normals by inverse CDF).

    One call means one threefry program for XLA to compile per jitted function instead of one per
    random op, which cut the compile time of `ask` several-fold. Callers size it with the encodings'
    `sample_draws` / `perturb_draws`.
    """

    def __init__(self, key: jax.Array, count: int):
        self.values = unit_uniforms(key, max(count, 1))
        self.offset = 0

    @classmethod
    def resume(cls, values: jax.Array, offset: int) -> Draws:
        """Draws that hand out `values` from `offset` on (to go on with another `Draws`'s values)."""
        draws = cls.__new__(cls)
        draws.values, draws.offset = values, offset
        return draws

    def uniform(self, shape: tuple[int, ...]) -> jax.Array:
        count = math.prod(shape)
        out = self.values[self.offset:self.offset + count].reshape(shape)
        self.offset += count
        return out

    def normal(self, shape: tuple[int, ...]) -> jax.Array:
        # 2u - 1 rounds to -1 for the smallest u (probability 2^-23 per draw), where erfinv is infinite and a
        # move would turn into NaN: clip to the range the other uniforms reach, 1 - 2^-22 from either end.
        centred = jnp.clip(2.0 * self.uniform(shape) - 1.0, -EDGE, EDGE)
        return jnp.sqrt(2.0).astype(jnp.float32) * jax.scipy.special.erfinv(centred)

    def integers(self, shape: tuple[int, ...], high: jax.Array | int) -> jax.Array:
        """Integers in [0, high) (elementwise `high`)."""
        return jnp.minimum(jnp.floor(self.uniform(shape) * high), jnp.asarray(high) - 1).astype(jnp.int32)


class Encoding:
    """One array leaf: shape, internal dtype, and the pure functions of its encoding."""

    shape: tuple[int, ...]
    dtype: Any

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    #: uniform draws one phase-2 move of one element needs
    move_draws = 1

    @property
    def sample_draws(self) -> int:
        return self.size

    @property
    def perturb_draws(self) -> int:
        cap = mutation_cap(self.size)
        return cap * (1 + self.move_draws)

    def sample(self, draws: Draws) -> jax.Array:
        raise NotImplementedError

    def move(self, draws: Draws, z: jax.Array, step: jax.Array, index: jax.Array | None = None) -> jax.Array:
        """Phase-2 move of a flat vector of elements (at flat `index`, or all when None).

        `step` is temperature × the adaptive step multiplier.
        """
        raise NotImplementedError

    def decode(self, z: jax.Array) -> jax.Array:
        raise NotImplementedError

    def encode(self, value: Any) -> np.ndarray:
        raise NotImplementedError

    def perturb(self, draws: Draws, z: jax.Array, step: jax.Array, temperature: jax.Array) -> jax.Array:
        """Move a temperature-dependent subset of the elements of `z` (at least one)."""
        flat = z.reshape(-1)
        cap = mutation_cap(self.size)
        count = jnp.clip(jnp.round(temperature * cap), 1, cap).astype(jnp.int32)
        if cap == self.size:  # dense: exactly `count` distinct elements
            ranks = jnp.argsort(jnp.argsort(draws.uniform((self.size,))))
            moved = self.move(draws, flat, step)
            return jnp.where(ranks < count, moved, flat).reshape(self.shape)
        # sparse: `count` of `cap` random positions; the others write out of range and are dropped
        index = draws.integers((cap,), self.size)
        index = jnp.where(jnp.arange(cap) < count, index, self.size)
        safe = jnp.minimum(index, self.size - 1)
        moved = self.move(draws, flat[safe], step, safe)
        return flat.at[index].set(moved, mode="drop").reshape(self.shape)


class Continuous(Encoding):
    """A bounded real: z in [0, 1] ↦ lo + z (hi - lo), or the same on log scale; optional decimal grid."""

    dtype = jnp.float32

    def __init__(self, lb: np.ndarray, ub: np.ndarray, log: bool, precision: int | None,
                 grid: tuple[np.ndarray, np.ndarray] | None, shape: tuple[int, ...]):
        self.shape, self.log, self.precision = shape, log, precision
        self.lb, self.ub = lb, ub
        self.lo = np.log(lb) if log else lb
        self.width = (np.log(ub) if log else ub) - self.lo
        self.grid = grid

    def sample(self, draws):
        return draws.uniform(self.shape)

    def move(self, draws, z, step, index=None):
        return reflect_unit(z + BOUNDED_STEP * step * draws.normal(z.shape))

    def decode(self, z):
        x = jnp.float32(self.lo) + z * jnp.float32(self.width)
        x = jnp.exp(x) if self.log else x
        if self.precision is not None:
            x = jnp.clip(_round_grid(x, self.precision, self.log), jnp.float32(self.grid[0]),
                         jnp.float32(self.grid[1]))
        return jnp.clip(x, jnp.float32(self.lb), jnp.float32(self.ub)) if self.precision is None else x

    def encode(self, value):
        x = np.broadcast_to(np.asarray(value, np.float64), self.shape)
        x = np.log(x) if self.log else x
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(self.width > 0, (x - self.lo) / np.where(self.width > 0, self.width, 1.0), 0.5)
        return np.clip(z, 0.0, 1.0).astype(np.float32)


def _round_grid(x: jax.Array, precision: int, log: bool) -> jax.Array:
    if not log:
        quantum = jnp.float32(10.0**-precision)
    else:
        quantum = 10.0 ** (jnp.floor(jnp.log10(jnp.abs(x))) - (precision - 1))
    return jnp.round(x / quantum) * quantum


class Unbounded(Encoding):
    """A real with no bounds: phase 1 draws N(0, 1), phase 2 adds N(0, step²)."""

    dtype = jnp.float32

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def sample(self, draws):
        return draws.normal(self.shape)

    def move(self, draws, z, step, index=None):
        return z + UNBOUNDED_STEP * step * draws.normal(z.shape)

    def decode(self, z):
        return z

    def encode(self, value):
        return np.broadcast_to(np.asarray(value, np.float32), self.shape).copy()


class Discrete(Encoding):
    """An index k in [0, levels - 1] decoded by `first + step k`, `base ** (first + k)` or a table.

    Ordinal moves go ±max(1, |N| · 0.3 · step · (levels - 1)) levels, symmetric and reflected at the ends
    (PyHopper's were biased downwards). Nominal moves jump to a uniformly drawn *other* level.
    """

    dtype = jnp.int32
    move_draws = 2

    def __init__(self, levels: np.ndarray, shape: tuple[int, ...], *, ordinal: bool = True,
                 first: np.ndarray | int = 0, step: int = 1, base: int | None = None,
                 table: np.ndarray | None = None):
        self.levels = np.asarray(levels, np.int64)
        self.shape, self.ordinal = shape, ordinal
        self.first, self.step, self.base, self.table = np.asarray(first, np.int64), step, base, table

    def sample(self, draws):
        return draws.integers(self.shape, jnp.int32(self.levels))

    def move(self, draws, k, step, index=None):
        levels = jnp.int32(np.broadcast_to(self.levels, self.shape).reshape(-1)) if self.levels.ndim else \
            jnp.int32(self.levels)
        levels = jnp.broadcast_to(levels if index is None or not self.levels.ndim else levels[index], k.shape)
        top = levels - 1
        magnitude, sign = draws.normal(k.shape), draws.uniform(k.shape)
        if not self.ordinal:  # a uniformly drawn *other* level
            jump = 1 + jnp.minimum(jnp.floor(sign * jnp.maximum(top, 1)), jnp.maximum(top, 1) - 1).astype(jnp.int32)
            return jnp.where(levels > 1, (k + jump) % jnp.maximum(levels, 1), k)
        spread = BOUNDED_STEP * step * top.astype(jnp.float32)
        size = jnp.maximum(1.0, jnp.round(jnp.abs(magnitude) * spread))
        size = jnp.minimum(size, top.astype(jnp.float32)).astype(jnp.int32)
        up = sign < 0.5
        # reflect at the ends without overflow: every quantity stays within [0, top]
        room_up, room_down = top - k, k
        new_up = jnp.where(size <= room_up, k + size, top - (size - room_up))
        new_down = jnp.where(size <= room_down, k - size, size - room_down)
        new = jnp.clip(jnp.where(up, new_up, new_down), 0, top)
        # a reflection can bring a move back to its start: then step one level inwards instead
        return jnp.where((new == k) & (top > 0), jnp.where(k < top, k + 1, k - 1), new)

    def decode(self, k):
        if self.table is not None:
            return jnp.asarray(self.table)[k]
        index = jnp.int32(self.first) + k
        if self.base is not None:
            return jnp.power(jnp.int32(self.base), index)
        return jnp.int32(self.first) + jnp.int32(self.step) * k

    def encode(self, value):
        return np.broadcast_to(np.asarray(value, np.int64), self.shape).astype(np.int32)

