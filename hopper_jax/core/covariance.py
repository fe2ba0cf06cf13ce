"""A learned shape for phase 2: the covariance of moves over a space's small continuous block.

When a space's continuous floats (bounded or unbounded, not switched by a choice, not host-driven) hold
between 2 and `COVARIANCE_LIMIT` elements in all, phase 2 draws their moves in the basis of a learned factor
A (C = A Aᵀ) instead of the coordinate axes: a row picks its moved elements as every other leaf does
(round(T · cap) of each selected leaf), draws g ~ N(0, 1) for them (0 elsewhere) and steps by y = A g. With
A = I (the start) that is exactly the axis-wise move; once C has learned the landscape's shape, a move along
one "coordinate" follows a diagonal valley or an ill-conditioned axis. Once C holds correlations, a row moves
every block element (y = A g in full) with probability their mean square (`dense_share`): a separable landscape
keeps C near diagonal and its moves axis-like, a non-separable one gets steps along all of A.

C is learned from the moves that improved on the best, as in CMA-ES: a rank-one update along an evolution path
of winning steps plus a rank-μ update from all improving steps of a population. Its scale is held at
trace(C) = n, so the step size stays the core's (temperature × the 1/5-rule multiplier). Ablations:
benchmarks/RESULTS.md §26 and §44.

The arithmetic is written so that the same seed gives the same bits on every device and for every
population size: sums run in a fixed order (a loop over one axis, element-wise inside), never through a
matrix product or a library factorisation whose reduction order depends on the backend or the shapes.

Shapes: n is the block's element count; a population has P rows.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..space.encodings import (BOUNDED_STEP, UNBOUNDED_STEP, Continuous, Draws, Unbounded, moved_elements,
                               random_subset)

#: Largest continuous block (elements) that gets a learned covariance (memory and work grow as n²).
COVARIANCE_LIMIT = 128
#: Rate of the evolution path of winning block steps, as PATH_RATE / (n + 4): CMA-ES's 4 / (n + 4). An ablation
#: setting, like `step_size.RESTARTS`: 1 (a path four times longer) joins one-element moves into the diagonal
#: they follow and helps 2-D valleys at 500 evaluations, but cost the system-identification fits their noise
#: floor (benchmarks/RESULTS.md §41).
PATH_RATE = 4.0
#: A row's block step moves every block element (y = A g in full) with probability `dense_share(C)`, the mean
#: squared correlation of C: axis-like moves while C stays near diagonal (a separable landscape), full moves
#: once it has learned correlations (a diagonal valley). False: the selected elements only.
DENSE_BY_CORRELATION = True
#: Pivots of the factorisation are kept above this share of the mean variance (a floor against round-off).
PIVOT_FLOOR = 1e-12


class Block(NamedTuple):
    """Where the continuous block lives: per member leaf (position among the array leaves, offset in the
    block, size, move cap, parameter index), the step scale of each block element, (n,) float32, and which
    of the space's parameters belong to it, (n_params,) bool."""

    leaves: tuple[tuple[int, int, int, int, int], ...]
    scale: np.ndarray
    params: np.ndarray

    @property
    def size(self) -> int:
        return int(self.scale.shape[0])


def identity(n: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(covariance (n, n), factor (n, n), path (n,)) of a block with no shape learned yet."""
    eye = np.eye(n, dtype=np.float32)
    return jax.device_put(eye), jax.device_put(eye.copy()), jax.device_put(np.zeros(n, np.float32))


def matvec(a: jax.Array, g: jax.Array) -> jax.Array:
    """a (n, n) @ g (n,), summed over columns in a fixed order: (n,)."""
    a, g = jnp.asarray(a), jnp.asarray(g)
    return jax.lax.fori_loop(0, g.shape[0], lambda j, y: y + a[:, j] * g[j], jnp.zeros_like(g))


def cholesky(c: jax.Array) -> jax.Array:
    """Lower factor L (n, n) with L Lᵀ = c, column by column (outer-product updates, no reductions); pivots
    below `PIVOT_FLOOR` × the mean variance are raised to it, with nothing below them, so the result is finite
    for any symmetric c, and for a positive semi-definite one (to round-off) within the square root of its
    largest variance."""
    return cholesky_pivot(c)[0]


def cholesky_pivot(c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(`cholesky(c)`, () the smallest pivot before the floor as a share of the mean variance): c is
    positive definite (to working precision) where that share is above `PIVOT_FLOOR`."""
    c = jnp.asarray(c)
    n = c.shape[0]
    rows = jnp.arange(n)
    mean_variance = jnp.maximum(_trace(c) / n, 1e-30)
    floor = PIVOT_FLOOR * mean_variance

    def column(j, carry):
        rest, factor, smallest = carry
        pivot = jnp.sqrt(jnp.maximum(rest[j, j], floor))
        # a floored pivot is a direction c (to round-off) does not have: its column below stays 0, since dividing
        # round-off by the tiny pivot could grow the rest to inf and NaN (a discus-like learned shape did)
        col = jnp.where((rows > j) & (rest[j, j] > floor), rest[:, j] / pivot, 0.0).at[j].set(pivot)
        return rest - col[:, None] * col[None, :], factor.at[:, j].set(col), jnp.minimum(smallest, rest[j, j])

    start = (c, jnp.zeros_like(c), jnp.asarray(jnp.inf, c.dtype))
    _, factor, smallest = jax.lax.fori_loop(0, n, column, start)
    return factor, smallest / mean_variance


def _trace(c: jax.Array) -> jax.Array:
    return jax.lax.fori_loop(0, c.shape[0], lambda i, t: t + c[i, i], jnp.zeros((), c.dtype))


def _trace_n(c: jax.Array) -> jax.Array:
    """c (n, n) scaled to trace n: the learned shape's scale, which leaves the step size to the core."""
    return c * (c.shape[0] / jnp.maximum(_trace(c), 1e-30))


def adapt(cov: jax.Array, path: jax.Array, ys: jax.Array, improved: jax.Array, winner: jax.Array,
          winner_improved: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(covariance, path) after a population whose block steps were `ys` (P, n) (y = A g).

    `improved` (P,) bool marks the rows that beat the best; `winner` is the row that became the new best,
    `winner_improved` whether it is one of them. Call it only when some row improved (see `tell_population`).
    """
    n = cov.shape[0]
    mu = jnp.sum(improved).astype(jnp.float32)
    c_path = PATH_RATE / (n + 4.0)
    c_one = 2.0 / ((n + 1.3) ** 2 + mu)
    c_mu = jnp.minimum(1.0 - c_one, 2.0 * (mu - 2.0 + 1.0 / jnp.maximum(mu, 1.0)) / ((n + 2.0) ** 2 + mu))
    c_mu = jnp.maximum(c_mu, 0.0)
    path = jnp.where(winner_improved, (1.0 - c_path) * path + math.sqrt(c_path * (2.0 - c_path)) * ys[winner], path)

    def add(k, total):  # the improving rows' outer products, row after row
        return total + jnp.where(improved[k], ys[k][:, None] * ys[k][None, :], 0.0)

    rank_mu = jax.lax.fori_loop(0, ys.shape[0], add, jnp.zeros_like(cov)) / jnp.maximum(mu, 1.0)
    new = (1.0 - c_one - c_mu) * cov + c_one * path[:, None] * path[None, :] + c_mu * rank_mu
    return _trace_n(new), path  # symmetric: every term is, element by element


def blend_in(shape: tuple[jax.Array, jax.Array, jax.Array], target: jax.Array, scale, rate: jax.Array
             ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(covariance, factor, path) with a share `rate` () of the covariance replaced by `target` (n, n), a shape in
    the block's coordinates (divided by the block's `scale` (n,) here, normalised to trace n); rate 0 changes
    nothing (and factorises nothing)."""
    cov, factor, path = shape

    def blended(_):
        inverse = 1.0 / jnp.asarray(scale, jnp.float32)
        scaled = target * inverse[:, None] * inverse[None, :]
        new = (1.0 - rate) * cov + rate * _trace_n(scaled)
        return new, cholesky(new), path

    return jax.lax.cond(rate > 0, blended, lambda _: shape, None)


def find_block(encodings: list, eligible: list[bool], params: list[int], n_params: int,
               limit: int = COVARIANCE_LIMIT) -> Block | None:
    """The continuous block of a space's array leaves, or None when it holds fewer than 2 or more than `limit`
    elements. `eligible[j]`: leaf j may join (a float leaf neither switched by a choice nor driven by the
    host); `params[j]`: its parameter's index among the space's `n_params`."""
    members, scales, offset = [], [], 0
    for j, (enc, ok) in enumerate(zip(encodings, eligible)):
        if not ok or not isinstance(enc, (Continuous, Unbounded)):
            continue
        members.append((j, offset, enc.size, enc.cap, params[j]))
        scales.append(np.full(enc.size, BOUNDED_STEP if isinstance(enc, Continuous) else UNBOUNDED_STEP,
                              np.float32))
        offset += enc.size
    if not 2 <= offset <= limit:
        return None
    return Block(tuple(members), np.concatenate(scales), np.isin(np.arange(n_params), [m[4] for m in members]))


def dense_share(cov: jax.Array) -> jax.Array:
    """() float32 in [0, 1]: the mean squared correlation C_ij² / (C_ii C_jj) over i ≠ j, summed in a fixed order."""
    n = cov.shape[0]
    if not DENSE_BY_CORRELATION or n < 2:
        return jnp.zeros((), jnp.float32)
    diag = jnp.maximum(jnp.diagonal(cov), 1e-30)
    off = jnp.where(jnp.eye(n, dtype=bool), 0.0, cov * cov / (diag[:, None] * diag[None, :]))
    per_row = matvec(off, jnp.ones(n, cov.dtype))  # row sums, columns added in a fixed order
    total = jax.lax.fori_loop(0, n, lambda i, t: t + per_row[i], jnp.zeros((), cov.dtype))
    return jnp.clip(total / (n * (n - 1)), 0.0, 1.0)


def step(block: Block, key: jax.Array, temperature: jax.Array, selected: jax.Array, factor: jax.Array,
         share: jax.Array | float = 0.0) -> jax.Array:
    """(n,) a row's block step y = A (g ⊙ m), from its PRNG key data: the elements every other leaf would move
    (round(T · cap) of each selected leaf, `selected` (n_params,) bool) get g ~ N(0, 1), the rest 0, and the
    step goes along the columns of the factor A instead of the axes. The draws come from a stream of the row's
    own (its key folded with 1), so that `tell` draws them again cheaply. With probability `share`
    (`dense_share`) every block element moves."""
    n = block.size
    stream = Draws(jax.random.fold_in(jax.random.wrap_key_data(key), 1), 2 * n + 1)
    g, ranks, dense = stream.normal((n,)), stream.take(n), stream.uniform(()) < share
    chosen = []
    for _, offset, size, cap, param in block.leaves:
        if size == 1:  # a scalar moves when its parameter is selected (no subset to draw: less to compile)
            chosen.append(selected[param][None])
            continue
        chosen.append(random_subset(ranks[offset:offset + size], moved_elements(temperature, cap)) & selected[param])
    return matvec(factor, jnp.where(jnp.concatenate(chosen) | dense, g, 0.0))


def tell_population(block: Block, shape: tuple, keys: jax.Array, temperatures: jax.Array, selected: jax.Array,
                    improved: jax.Array, winner: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(covariance, factor, path) after a population (P rows: PRNG key data `keys`, `temperatures`, `selected`
    (P, n_params) moved parameters) whose rows `improved` (P,) bool beat the best; row `winner` became it.
    Without an improving row nothing is drawn again, adapted or factorised."""
    cov, factor, path = shape

    def changed(_):
        ys = jax.vmap(step, in_axes=(None, 0, 0, 0, None, None))(block, keys, temperatures, selected, factor,
                                                                dense_share(cov))
        new_cov, new_path = adapt(cov, path, ys, improved, winner, improved[winner])
        return new_cov, cholesky(new_cov), new_path

    return jax.lax.cond(jnp.any(improved), changed, lambda _: (cov, factor, path), None)
