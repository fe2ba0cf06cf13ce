"""How a population is kept (the way it was drawn) and made dense: encoded rows, decoded values, fingerprints.

A phase-1 row is the sample of its PRNG key, a phase-2 row is the best with a few elements replaced
(positions and values, distinct positions per row), and a few rows may be given in full (the merged
candidate, queued guesses). `decode` writes the values the objective sees in one pass (the base's values
broadcast, the moved elements scattered in); `fingerprints` updates the base's hash in O(moved elements)
for phase-2 rows; `row` rebuilds one row in O(size).

Dense rows go into one (P, ...) buffer: the moved rows in one pass, then the sampled rows over theirs, on CPU a
batch of rows at a time (`rows.batched_rows`), so a generation of a huge parameter holds its values once, plus
a batch of intermediates. A duplicate's re-draw writes only its rows into the earlier values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..space.compile import Space
from ..space.fingerprint import SMALL_LEAF, changed_sums, combine, fingerprint, leaf_sums
from .rows import batched_rows, map_rows, where_rows

#: The fields of a `Population` with one entry per row.
PER_ROW = ("keys", "sampled", "index", "moved", "local", "actions", "temperature")


class Population(NamedTuple):
    """A population of P candidates, as drawn (see the module docstring); `Hopper.encode` gives dense rows."""

    keys: jax.Array  # (P, k) uint32 PRNG key data: a phase-1 row is the sample drawn from its key
    sampled: jax.Array  # (P,) bool: rows that are samples of their keys
    base: tuple[jax.Array, ...]  # per array leaf (*shape): the encoding the other rows move from
    index: tuple[jax.Array, ...]  # per array leaf (P, slots) int32: flat positions moved (>= size: none)
    moved: tuple[jax.Array, ...]  # per array leaf (P, slots): their new encoded values
    given: tuple[jax.Array, ...]  # per array leaf (G, *shape): rows 0 .. n_given - 1, given in full
    n_given: jax.Array  # () int32
    local: jax.Array  # (P,) bool: phase-2 rows (perturbations of the best)
    actions: jax.Array  # (P, n_params) int8: KEEP / MUTATE / RESAMPLE for every parameter
    temperature: jax.Array  # (P,) float32


class Layout(NamedTuple):
    """The dense views of a population of one space (see `layout`)."""

    encode: Callable[[Population], tuple]  # (P, *shape) internal encodings, per array leaf
    decode: Callable[..., tuple]  # (P, ...) values the objective sees, per array leaf
    row: Callable[[Population, jax.Array], tuple]  # one row's internal encoding
    fingerprints: Callable[[Population, tuple], jax.Array]  # (P, 2) uint32, from the decoded values
    given: Callable[..., Population]  # a population of rows given in full


def layout(space: Space, slots: list[int], sample_one: Callable[[jax.Array], tuple]) -> Layout:
    """The dense views of populations of `space` whose array leaf j moves up to `slots[j]` elements a row;
    `sample_one(key data)` is a phase-1 row's encoding."""
    encodings = [space.leaves[i].encoding for i in space.array_leaves]

    def moved_rows(part: Population, base: tuple, convert: Callable) -> tuple:
        """(B, ...) rows of `part`: the flat `base` with the moved elements in (`convert(j, encoded values,
        positions)` gives leaf j's row values)."""
        size = part.local.shape[0]

        def moved(j, enc, b):
            index, new = part.index[j], part.moved[j]
            if enc.size == 1:  # a scalar: a select, not a scatter
                return jnp.where(index[:, 0] < 1, convert(j, new[:, 0], jnp.zeros((), jnp.int32)), b[0])
            return jax.vmap(lambda i, m: b.at[i].set(convert(j, m, jnp.minimum(i, enc.size - 1)), mode="drop",
                                                     unique_indices=True))(index, new)

        return tuple(moved(j, enc, b.reshape(-1)).reshape(size, *enc.shape)
                     for j, (enc, b) in enumerate(zip(encodings, base)))

    def dense(population: Population, base: tuple, convert: Callable, sampled_rows: Callable, given: tuple,
              into: tuple | None, take: jax.Array | None) -> tuple:
        """(P, ...) rows: the base moved (`moved_rows`), the sampled rows from `sampled_rows(key)` a batch of rows
        at a time, the `given` rows over the first ones; with `into` and `take` (P,) bool, only the rows in
        `take` are written into `into`."""
        def drawn(keys):
            return jax.vmap(sampled_rows)(keys)

        if take is None:  # the moved rows in one pass, then the sampled rows written over theirs
            out = moved_rows(population, base, convert)
            out = jax.lax.cond(jnp.any(population.sampled), lambda o: batched_rows(
                drawn, population.keys, space.array_size, o, population.sampled), lambda o: o, out)
        else:
            def rows_of(part):
                part = population._replace(**part)
                return jax.lax.cond(jnp.any(part.sampled), lambda r: tuple(
                    where_rows(part.sampled, d, m) for d, m in zip(drawn(part.keys), r)), lambda r: r,
                    moved_rows(part, base, convert))

            out = batched_rows(rows_of, {name: getattr(population, name) for name in PER_ROW}, space.array_size,
                               into, take)
        count = given[0].shape[0] if given else 0
        if not count:
            return out
        put = jnp.arange(count) < population.n_given
        if take is not None:
            put &= take[:count]
        return tuple(r.at[:count].set(where_rows(put, g, r[:count])) for r, g in zip(out, given))

    def encode(population: Population) -> tuple:
        return dense(population, population.base, lambda j, moved, index: moved, sample_one, population.given,
                     None, None)

    def decode(population: Population, into: tuple | None = None, take: jax.Array | None = None) -> tuple:
        """(P, ...) decoded values; with `into` (earlier values) and `take` (P,) bool, only rows in `take` are
        decoded again (a duplicate's re-draw), in place."""
        given = jax.vmap(space.decode)(population.given) if population.given else ()
        return dense(population, space.decode(population.base), lambda j, moved, index: encodings[j].decode_at(
            moved, index), lambda key: space.decode(sample_one(key)), given, into, take)

    def row(population: Population, i: jax.Array) -> tuple:
        """Row i's encoding, rebuilt in O(size): given, sampled from its key, or the base moved."""
        moved = tuple(b.reshape(-1).at[population.index[j][i]].set(population.moved[j][i], mode="drop",
                                                                  unique_indices=True).reshape(b.shape)
                      for j, b in enumerate(population.base))
        drawn = jax.lax.cond(population.sampled[i], sample_one, lambda _: population.base, population.keys[i])
        out = tuple(jnp.where(population.sampled[i], d, m) for d, m in zip(drawn, moved))
        if population.given and population.given[0].shape[0]:
            count = population.given[0].shape[0]
            is_given = (i < count) & (i < population.n_given)
            out = tuple(jnp.where(is_given, g[jnp.minimum(i, count - 1)], o) for g, o in zip(population.given, out))
        return out

    large = [j for j, enc in enumerate(encodings) if enc.size > SMALL_LEAF]
    small = frozenset(j for j in range(len(encodings)) if j not in large)

    def fingerprints(population: Population, values: tuple) -> jax.Array:
        """(P, 2) fingerprints of the decoded `values`; the large leaves of phase-2 rows from the base's sums in
        O(moved elements), everything else (small leaves, phase-1 and given rows) hashed in full."""
        if space.has_conditions or not large:
            active = None
            if space.has_conditions:
                active = jax.vmap(lambda *z: space.active(z)[jnp.asarray(space.array_leaves, jnp.int32)])(
                    *encode(population))
            return jax.vmap(fingerprint)(values, active)
        base_values = space.decode(population.base)
        base_sums = leaf_sums(base_values, frozenset(large))

        def moved_one(index, row_values):
            sums = leaf_sums(row_values, small)
            for j in large:
                size = encodings[j].size
                safe = jnp.minimum(index[j], size - 1)
                change = changed_sums(j, base_values[j].reshape(-1)[safe], row_values[j].reshape(-1)[safe],
                                      index[j], index[j] < size)
                sums = sums.at[:, j].set(base_sums[:, j] + change)
            return combine(sums)

        moved = jax.vmap(moved_one)(population.index, values)
        rows = jnp.arange(moved.shape[0])
        whole = population.sampled
        if population.given and population.given[0].shape[0]:
            whole = whole | ((rows < population.given[0].shape[0]) & (rows < population.n_given))
        # hashed a batch of rows at a time (on CPU): the per-element terms of a whole population never exist at once
        full = jax.lax.cond(jnp.any(whole), lambda v: map_rows(fingerprint, v, space.array_size),
                            lambda v: jnp.zeros_like(moved), values)
        return jnp.where(whole[:, None], full, moved)

    def given(rows: tuple, local: jax.Array | None = None, actions: jax.Array | None = None,
              temperature: jax.Array | None = None) -> Population:
        """A population of G rows given in full (internal encodings, (G, *shape) per array leaf)."""
        count = rows[0].shape[0] if rows else 1
        return Population(
            np.zeros((count, 2), np.uint32), np.zeros(count, bool), tuple(np.asarray(r)[0] for r in rows),
            tuple(np.broadcast_to(enc.size + np.arange(s, dtype=np.int32), (count, s)) for enc, s in
                  zip(encodings, slots)),
            tuple(np.zeros((count, s), enc.dtype) for enc, s in zip(encodings, slots)),
            tuple(np.asarray(r) for r in rows), np.int32(count),
            np.zeros(count, bool) if local is None else local,
            np.zeros((count, space.size), np.int8) if actions is None else actions,
            np.zeros(count, np.float32) if temperature is None else temperature)

    return Layout(encode, decode, row, fingerprints, given)


def select_rows(mask: jax.Array, on_true: Population, on_false: Population) -> Population:
    """Rows of population `on_true` where mask (P,) is True, else of `on_false`; base and given rows stay
    those of `on_false`."""
    return on_false._replace(**{name: jax.tree.map(lambda a, b: where_rows(mask, a, b), getattr(on_true, name),
                                                  getattr(on_false, name)) for name in PER_ROW})
