"""Jittable encodings of array parameters.

Every built-in parameter lives inside jit in an internal encoding that is easy to perturb:

- `Continuous`: a float32 (or float64) position `z` in the unit box [0, 1] (linear or log scale, optional grid);
- `Unbounded`: the float32 (or float64) value itself;
- `Discrete`: an int32 level index `k` in [0, levels - 1] (integers, powers, choices).

`decode` maps the encoding to the numeric value the objective sees (inside bounds, on the grid);
`decode_at` does the same for some elements of a leaf, given their flat positions.
`move` is the phase-2 step of a vector of elements; `moves` picks which elements of a leaf move, at
distinct positions, and returns them as (positions, new values): a phase-2 candidate is its best with a
few elements replaced, so its cost is O(moved elements), not O(size).
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


def moved_elements(temperature: jax.Array, cap: int) -> jax.Array:
    """How many elements of a leaf with move cap `cap` one phase-2 move changes at `temperature`:
    round(T · cap), at least one, at most `cap` (int32)."""
    return jnp.clip(jnp.round(temperature * cap), 1, cap).astype(jnp.int32)


#: How a bounded move that passes a wall comes back into the unit box. "clip" (the default): it lands on the
#: wall, so a bound is reached exactly and stays reachable, as in PyHopper (a move from the wall outwards
#: stays there). "reflect": it is folded back inside, so a bound is never reached. An ablation setting
#: (benchmarks/RESULTS.md §40); the engine caches' keys do not see it.
WALLS = "clip"


def into_unit_box(z: jax.Array) -> jax.Array:
    """Moved values z (any reals) brought into [0, 1] as `WALLS` says."""
    if WALLS == "reflect":  # a triangle wave of period 2; the clip below catches denormal rounding
        z = jnp.mod(z, 2.0)
        z = jnp.where(z > 1.0, 2.0 - z, z)
    return jnp.clip(z, 0.0, 1.0)


#: The largest |2u - 1| of a float32 uniform u from 23 random mantissa bits.
EDGE = 1.0 - 2.0**-22


def random_words(key: jax.Array, count: int) -> jax.Array:
    """`count` random uint32 words from one typed PRNG key; shape (count,).

    With a threefry key (JAX's default) both 32-bit words of every threefry block are used, counter mode:
    half the hashing of `jax.random.bits` under JAX's default partitionable threefry, which spends a whole
    block per word (phase-1 sampling was 1.2-1.4x faster, benchmarks/RESULTS.md §7). Other key
    implementations go through `jax.random.bits`.
    """
    if str(jax.random.key_impl(key)) != "threefry2x32":
        return jax.random.bits(key, (count,), jnp.uint32)
    return threefry_2x32(jax.random.key_data(key), jnp.arange(count, dtype=jnp.uint32))


def unit_uniforms(key: jax.Array, count: int) -> jax.Array:
    """`count` float32 uniforms in (0, 1) from one PRNG key; shape (count,)."""
    return uniforms_of(random_words(key, count))


def uniforms_of(words: jax.Array) -> jax.Array:
    """Float32 uniforms in (0, 1) from uint32 words (their top 23 bits)."""
    unit = jax.lax.bitcast_convert_type((words >> 9) | jnp.uint32(0x3F800000), jnp.float32) - 1.0  # [0, 1)
    return jnp.maximum(unit, jnp.float32(np.finfo(np.float32).tiny))


def _mul_high(a: jax.Array, b: jax.Array) -> jax.Array:
    """The high 32 bits of the 64-bit product of uint32 arrays, from 16-bit limbs (no 64-bit types needed)."""
    mask = jnp.uint32(0xFFFF)
    a_low, a_high, b_low, b_high = a & mask, a >> 16, b & mask, b >> 16
    low_low, low_high, high_low = a_low * b_low, a_low * b_high, a_high * b_low
    middle = (low_low >> 16) + (low_high & mask) + (high_low & mask)
    return a_high * b_high + (low_high >> 16) + (high_low >> 16) + (middle >> 16)


def integers_of(words: jax.Array, high: jax.Array | int) -> jax.Array:
    """Integers in [0, high) from pairs of uint32 words (shape (..., 2)): floor(w · high / 2^64) with w the
    64-bit word, so every residue appears (no low bits lost to a float) and the bias is below high / 2^64."""
    high = jnp.asarray(high).astype(jnp.uint32)
    first, second = words[..., 0], words[..., 1]
    low = first * high  # the low 32 bits of first · high
    carried = low + _mul_high(second, high)
    return (_mul_high(first, high) + (carried < low).astype(jnp.uint32)).astype(jnp.int32)


def random_subset(words: jax.Array, count: jax.Array | int) -> jax.Array:
    """(n,) bool: `count` of n slots, a uniformly random subset, from n uint32 `words`.

    Each slot's key is its word with the slot index in the low bits (so keys are distinct; two words equal in
    the other bits, probability about n² / 2^(33 - log2 n), go to the lower slot); the slots whose keys rank
    below `count` are chosen. The threshold is found by a 32-step bisection over the key range, O(32 n)
    comparisons: a sort (argsort of argsort) cost 100× more on a CPU.
    """
    n = words.shape[-1]
    index_bits = max(1, (n - 1).bit_length())
    keys = (words >> index_bits << index_bits) | jnp.arange(n, dtype=jnp.uint32)
    count = jnp.asarray(count, jnp.int32)

    def bisect(bit, threshold):  # the largest threshold with at most `count` keys below it, bit by bit
        trial = threshold | (jnp.uint32(1) << (31 - bit).astype(jnp.uint32))
        return jnp.where(jnp.sum(keys < trial) <= count, trial, threshold)

    threshold = jax.lax.fori_loop(0, 32, bisect, jnp.uint32(0))
    return (keys < threshold) | (count >= n)


class Draws:
    """Random uint32 words from one PRNG call, handed out in slices as uniforms, normals or integers.

    One call means one threefry program for XLA to compile per jitted function instead of one per
    random op, which cut the compile time of `ask` several-fold. A uniform or a normal takes one word, an
    integer two. Callers size it with the encodings' `sample_draws` / `move_draws`.
    """

    def __init__(self, key: jax.Array, count: int):
        """`key`: a typed PRNG key, or raw key data of JAX's default implementation."""
        if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.wrap_key_data(key)
        self.words = random_words(key, max(count, 1))
        self.offset = 0

    @classmethod
    def resume(cls, words: jax.Array, offset: int) -> Draws:
        """Draws that hand out `words` from `offset` on (to go on with another `Draws`'s words)."""
        draws = cls.__new__(cls)
        draws.words, draws.offset = words, offset
        return draws

    def take(self, count: int) -> jax.Array:
        out = self.words[self.offset:self.offset + count]
        self.offset += count
        return out

    def uniform(self, shape: tuple[int, ...]) -> jax.Array:
        return uniforms_of(self.take(math.prod(shape))).reshape(shape)

    def normal(self, shape: tuple[int, ...]) -> jax.Array:
        # 2u - 1 rounds to -1 for the smallest u (probability 2^-23 per draw), where erfinv is infinite and a
        # move would turn into NaN: clip to the range the other uniforms reach, 1 - 2^-22 from either end.
        centred = jnp.clip(2.0 * self.uniform(shape) - 1.0, -EDGE, EDGE)
        return jnp.sqrt(2.0).astype(jnp.float32) * jax.scipy.special.erfinv(centred)

    def integers(self, shape: tuple[int, ...], high: jax.Array | int) -> jax.Array:
        """Integers in [0, high) (elementwise `high` < 2^31), two words each."""
        return integers_of(self.take(2 * math.prod(shape)).reshape(*shape, 2), high)


def _flat(value: Any, index: jax.Array | None) -> jax.Array:
    """A setting (scalar, or of the leaf's shape) for the flat leaf (index None) or at flat `index`."""
    array = np.asarray(value)
    if array.ndim == 0:
        return jnp.asarray(array)
    flat = jnp.asarray(array.reshape(-1))
    return flat if index is None else flat[index]


class Encoding:
    """One array leaf: shape, internal dtype, and the pure functions of its encoding."""

    shape: tuple[int, ...]
    dtype: Any

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    #: words one phase-2 move of one element needs
    move_draws = 1
    #: words one phase-1 sample of one element needs
    sample_words = 1

    @property
    def cap(self) -> int:
        """Slots of a phase-2 move: the most elements it changes."""
        return mutation_cap(self.size)

    @property
    def sample_draws(self) -> int:
        return self.size * self.sample_words

    def move_words(self, slots: int) -> int:
        """Words `moves` takes with `slots` slots: per slot a selection rank, a position (unless every element
        has a slot) and a move."""
        return slots * (self.move_draws + (1 if slots == self.size else 2))

    @property
    def perturb_draws(self) -> int:
        return self.move_words(self.cap)

    def sample(self, draws: Draws) -> jax.Array:
        raise NotImplementedError

    def move(self, draws: Draws, z: jax.Array, step: jax.Array, index: jax.Array | None = None,
             may_stay: jax.Array | bool = False) -> jax.Array:
        """Phase-2 move of a flat vector of elements (at flat `index`, or all when None).

        `step` is temperature × the adaptive step multiplier. `may_stay` (a bool scalar): a discrete element
        may keep its value (another parameter of the row moves for sure); False: every element changes.
        """
        raise NotImplementedError

    def decode(self, z: jax.Array) -> jax.Array:
        return self.decode_at(z.reshape(-1), None).reshape(z.shape)

    def decode_at(self, z: jax.Array, index: jax.Array | None) -> jax.Array:
        """Decoded values of flat elements `z` at flat positions `index` (None: `z` is the whole flat leaf)."""
        raise NotImplementedError

    def encode(self, value: Any) -> np.ndarray:
        raise NotImplementedError

    def moves(self, draws: Draws, z: jax.Array, step: jax.Array, temperature: jax.Array,
              slots: int | None = None, may_stay: jax.Array | bool = False) -> tuple[jax.Array, jax.Array]:
        """A phase-2 move of leaf `z`: (positions (slots,) int32, new values (slots,)).

        round(T · cap) elements move (at least one, at most `cap`), at distinct positions; an unused slot k
        holds position size + k (out of range: nothing there). With a slot per element (small leaves, or
        `slots` = size) the moved elements are drawn among all; otherwise the flat leaf is split into `cap`
        strata and one position is drawn in each chosen stratum. `may_stay`: see `move`.
        """
        flat, cap, size = z.reshape(-1), self.cap, self.size
        slots = cap if slots is None else slots
        chosen = random_subset(draws.take(slots), moved_elements(temperature, cap))
        if slots == size:
            positions = jnp.arange(size, dtype=jnp.int32)
        else:
            bounds = (np.arange(slots + 1, dtype=np.int64) * size // slots).astype(np.int32)
            lower, width = jnp.asarray(bounds[:-1]), jnp.asarray(np.diff(bounds))
            offset = jnp.minimum(jnp.floor(draws.uniform((slots,)) * width).astype(jnp.int32), width - 1)
            positions = lower + offset
        moved = self.move(draws, flat[positions], step, positions, may_stay)
        return jnp.where(chosen, positions, size + jnp.arange(slots, dtype=jnp.int32)), moved

    def perturb(self, draws: Draws, z: jax.Array, step: jax.Array, temperature: jax.Array) -> jax.Array:
        """`z` with `moves` applied (dense; the core keeps moves sparse)."""
        index, moved = self.moves(draws, z, step, temperature)
        return z.reshape(-1).at[index].set(moved, mode="drop", unique_indices=True).reshape(self.shape)


class _Real(Encoding):
    """A real encoding whose coordinates are float32, or float64 when asked (`float(..., dtype="float64")`,
    under `jax_enable_x64`): draws stay float32, positions and steps added to them take the coordinate type."""

    float64: bool = False

    @property
    def dtype(self):
        return jnp.float64 if self.float64 else jnp.float32


class Continuous(_Real):
    """A bounded real: z in [0, 1] ↦ lo + z (hi - lo), or the same on log scale; optional decimal grid."""

    def __init__(self, lb: np.ndarray, ub: np.ndarray, log: bool, precision: int | None,
                 grid: tuple[np.ndarray, np.ndarray] | None, shape: tuple[int, ...], float64: bool = False):
        self.shape, self.log, self.precision = shape, log, precision
        self.lb, self.ub = lb, ub
        self.lo = np.log(lb) if log else lb
        self.width = (np.log(ub) if log else ub) - self.lo
        self.grid = grid
        if float64:  # only then an attribute: a float32 leaf's settings (its cache key) stay as they were
            self.float64 = True

    def sample(self, draws):
        return draws.uniform(self.shape).astype(self.dtype)

    def move(self, draws, z, step, index=None, may_stay=False):
        return into_unit_box(z + BOUNDED_STEP * step * draws.normal(z.shape))

    def decode_at(self, z, index):
        def setting(value):
            return _flat(value, index).astype(self.dtype)

        x = setting(self.lo) + z * setting(self.width)
        x = jnp.exp(x) if self.log else x
        if self.precision is not None:
            return jnp.clip(_round_grid(x, self.precision, self.log), setting(self.grid[0]), setting(self.grid[1]))
        return jnp.clip(x, setting(self.lb), setting(self.ub))

    def encode(self, value):
        x = np.broadcast_to(np.asarray(value, np.float64), self.shape)
        x = np.log(x) if self.log else x
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(self.width > 0, (x - self.lo) / np.where(self.width > 0, self.width, 1.0), 0.5)
        return np.clip(z, 0.0, 1.0).astype(self.dtype)


def _round_grid(x: jax.Array, precision: int, log: bool) -> jax.Array:
    if not log:
        quantum = jnp.asarray(10.0**-precision, x.dtype)
    else:
        quantum = 10.0 ** (jnp.floor(jnp.log10(jnp.abs(x))) - (precision - 1))
    return jnp.round(x / quantum) * quantum


class Unbounded(_Real):
    """A real with no bounds: phase 1 draws N(0, 1), phase 2 adds N(0, step²)."""

    def __init__(self, shape: tuple[int, ...], float64: bool = False):
        self.shape = shape
        if float64:
            self.float64 = True

    def sample(self, draws):
        return draws.normal(self.shape).astype(self.dtype)

    def move(self, draws, z, step, index=None, may_stay=False):
        return z + UNBOUNDED_STEP * step * draws.normal(z.shape)

    def decode_at(self, z, index):
        return z

    def encode(self, value):
        return np.broadcast_to(np.asarray(value, self.dtype), self.shape).copy()


class Discrete(Encoding):
    """An index k in [0, levels - 1] decoded by `first + step k`, `base ** (first + k)` or a table.

    Ordinal moves go ±round(|N| · 0.3 · step · (levels - 1)) levels, symmetric and reflected at the ends
    (PyHopper's were biased downwards); nominal moves draw a level uniformly. Either may keep the value, as
    PyHopper's moves do, when another parameter of the candidate moves for sure (`may_stay`); otherwise an
    ordinal move goes at least one level and a nominal one jumps to another level.
    """

    dtype = jnp.int32
    move_draws = 4  # a magnitude, a sign, and a nominal jump (two words)
    sample_words = 2

    def __init__(self, levels: np.ndarray, shape: tuple[int, ...], *, ordinal: bool = True,
                 first: np.ndarray | int = 0, step: int = 1, base: int | None = None,
                 table: np.ndarray | None = None):
        self.levels = np.asarray(levels, np.int64)
        self.shape, self.ordinal = shape, ordinal
        self.first, self.step, self.base, self.table = np.asarray(first, np.int64), step, base, table

    def sample(self, draws):
        return draws.integers(self.shape, jnp.int32(self.levels))

    def move(self, draws, k, step, index=None, may_stay=False):
        levels = jnp.broadcast_to(_flat(self.levels, index).astype(jnp.int32), k.shape)
        top = levels - 1
        magnitude, sign = draws.normal(k.shape), draws.uniform(k.shape)
        if not self.ordinal:  # a uniformly drawn level, or a uniformly drawn *other* level
            words = draws.take(2 * k.size).reshape(*k.shape, 2)
            any_level = integers_of(words, jnp.maximum(levels, 1))
            other = (k + 1 + integers_of(words, jnp.maximum(top, 1))) % jnp.maximum(levels, 1)
            return jnp.where(levels > 1, jnp.where(may_stay, any_level, other), k)
        draws.take(2 * k.size)  # the nominal jump's words, unused: every move takes the same words
        spread = BOUNDED_STEP * step * top.astype(jnp.float32)
        size = jnp.maximum(jnp.where(may_stay, 0.0, 1.0), jnp.round(jnp.abs(magnitude) * spread))
        size = jnp.minimum(size, top.astype(jnp.float32)).astype(jnp.int32)
        up = sign < 0.5
        # reflect at the ends without overflow: every quantity stays within [0, top]
        room_up, room_down = top - k, k
        new_up = jnp.where(size <= room_up, k + size, top - (size - room_up))
        new_down = jnp.where(size <= room_down, k - size, size - room_down)
        new = jnp.clip(jnp.where(up, new_up, new_down), 0, top)
        # a reflection can bring a forced move back to its start: then step one level inwards instead
        return jnp.where((new == k) & (top > 0) & (size > 0), jnp.where(k < top, k + 1, k - 1), new)

    def decode_at(self, k, index):
        if self.table is not None:
            return jnp.asarray(self.table)[k]
        level = _flat(self.first, index).astype(jnp.int32) + k
        if self.base is not None:
            return jnp.power(jnp.int32(self.base), level)
        return _flat(self.first, index).astype(jnp.int32) + jnp.int32(self.step) * k

    def encode(self, value):
        return np.broadcast_to(np.asarray(value, np.int64), self.shape).astype(np.int32)
