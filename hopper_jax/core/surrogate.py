"""A quadratic model of f over a small continuous block: phase 2's model step.

The core keeps the best evaluated points of the continuous block and their scores (the archive, a few times
the model's coefficient count). Once it is full, phase 2 fits a full quadratic q(u) = c + gᵀu + ½ uᵀHu to it by
ridge least squares around the best, in whitened coordinates u (the offsets from the best times the inverse
Cholesky factor of their second moment, scaled to |u| ≤ 1), and proposes q's minimiser when H is positive
definite, kept within `TRUST_RADIUS` times the archive's whitened extent. On a quadratic (a sphere, an
ill-conditioned ellipsoid, rotated or not) one model step lands near the optimum; on a rugged landscape the fit
of many points smooths the ripples and points into the basin. The best points rather than the latest keep the
scores' range, and so the float32 fit's error, shrinking as the search closes in. Model steps are a few
candidates of a generation (its last rows in JAX mode, a line search along the step, fitted at each tell; a
share of the sequential steps in Python mode, fitted just before each is proposed), so a bad model costs little.

The arithmetic runs in a fixed order (sums as a fixed tree of element-wise adds, `fixed_sum`; solves by
element-wise substitution; `covariance`'s Cholesky), never through a matrix product or a library solver, so a
seed gives the same bits on every device.

Shapes: n block elements, m = (n + 1)(n + 2) / 2 model coefficients, K archive rows (`archive_rows`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import covariance as cov

#: Phase 2 takes model steps by default (`hopper(model_steps=...)` decides per search; an ablation setting, which
#: the engine caches' keys do not see).
MODEL_STEPS = True
#: Largest continuous block with a model (n ≤ 10: m ≤ 66 coefficients; one fit takes about 0.2 ms at n = 2 and
#: 11 ms at n = 10 on a CPU with the quick compile options of small spaces, benchmarks/RESULTS.md §46e).
MODEL_LIMIT = 10
#: Largest space (array elements in all) with a model: the archive's rows are the population's dense rows.
MODEL_SPACE_LIMIT = 64
#: Archive rows per model coefficient, at least (rounded up to a power of two).
ARCHIVE_FACTOR = 1.5
#: The archive keeps the best K points evaluated so far (True) or the latest K (False; an ablation setting).
KEEP_BEST = True
#: Share of sequential phase-2 steps (Python mode) that are model candidates: each is a model step when the fit
#: made just before it (`hopper`'s `refit`) is positive definite.
MODEL_SHARE = 0.2
#: Share of a JAX-mode generation's rows (the last ones, at least one) that are model steps (see `model_rows`).
MODEL_ROWS = 0.125
#: A model step moves at most this many times the archive's extent from the best (in whitened coordinates).
TRUST_RADIUS = 3.0
#: Added to each squared column norm of the fit, per archive row (the features are at most 1 in size): a small ridge.
RIDGE = 1e-8
#: The fitted Hessian counts as positive definite when its smallest Cholesky pivot is above this share of
#: its mean diagonal.
PD_FLOOR = 1e-7
#: Share of the learned shape that each positive definite sequential fit (Python mode, one before each model
#: candidate) replaces by its inverse Hessian, where the shape's only other teachers, successful steps, are rare
#: (0: none). JAX mode's generations teach the shape from their improving rows, and there it measured no better
#: (RESULTS.md §47d).
SHAPE_FROM_MODEL = 0.3


class Model(NamedTuple):
    """The archive (the best evaluated points of the continuous block and their scores, best first; or the latest
    in a ring with `KEEP_BEST` off) and the model step fitted to it."""

    points: jax.Array  # (K, n) block coordinates (the leaves' encodings, concatenated)
    scores: jax.Array  # (K,) the core's score type (float32, or float64 under 64-bit JAX), maximised
    count: jax.Array  # () int32: points recorded so far (the archive holds min(count, K) of them)
    step: jax.Array  # (n,) from the best to the fitted minimum (the block's coordinate type)
    ok: jax.Array  # () bool: `step` is a model step to take


def archive_rows(n: int, space_elements: int) -> int:
    """K for a block of n elements in a space of `space_elements` array elements (0: no model): the power of
    two at or above `ARCHIVE_FACTOR` times the model's coefficients."""
    if not 2 <= n <= MODEL_LIMIT or space_elements > MODEL_SPACE_LIMIT:
        return 0
    return 1 << math.ceil(math.log2(ARCHIVE_FACTOR * (n + 1) * (n + 2) / 2))


def empty(rows: int, n: int, dtype, score_dtype=np.float32) -> Model:
    """A model state with room for `rows` points of n elements (of `dtype`) and their scores (`score_dtype`), none
    recorded."""
    n = n if rows else 0
    return Model(*jax.device_put((np.zeros((rows, n), dtype), np.zeros(rows, score_dtype), np.int32(0),
                                  np.zeros(n, dtype), np.bool_(False))))


def fit(model: Model, center: jax.Array) -> tuple[Model, jax.Array]:
    """(`model` with its step from `center` (n,), the best, fitted to the archive once it is full; the fit's
    inverse Hessian (n, n), zero without a positive definite fit).

    A step equal to the last fit's (the same best, and an archive its candidate did not change: it was no
    better than the archive's worst) is not taken again: it would propose a point already proposed."""
    n = model.step.shape[0]
    step, ok, shape = jax.lax.cond(ready(model), model_step, lambda *_: (jnp.zeros_like(model.step),
                                   jnp.bool_(False), jnp.zeros((n, n), jnp.float32)), model, center)
    return model._replace(step=step, ok=ok & jnp.any(step != model.step)), shape


def record(archive: Model, points: jax.Array, scores: jax.Array) -> Model:
    """The archive with the rows of `points` (P, n) whose `scores` (P,) are finite added: it keeps the best K
    points evaluated so far, best first (`KEEP_BEST`), or the latest K in a ring."""
    scores = scores.astype(archive.scores.dtype)
    valid = jnp.isfinite(scores) & (jnp.abs(scores) < jnp.finfo(scores.dtype).max)  # not a clipped infinity
    return (_keep_best if KEEP_BEST else _keep_latest)(archive, points.astype(archive.points.dtype), scores, valid)


def _keep_best(archive: Model, points: jax.Array, scores: jax.Array, valid: jax.Array) -> Model:
    """The best K of the archive's rows and the valid new ones, best first; equal scores keep their order
    (archive rows first), so the (stable, exact) sort gives the same rows on every device."""
    rows = archive.scores.shape[0]
    held = jnp.arange(rows) < archive.count
    merged = jnp.concatenate([jnp.where(held, archive.scores, -jnp.inf), jnp.where(valid, scores, -jnp.inf)])
    order = jnp.argsort(-merged, stable=True)[:rows]
    return archive._replace(points=jnp.concatenate([archive.points, points])[order], scores=merged[order],
                            count=archive.count + jnp.sum(valid, dtype=jnp.int32))


def _keep_latest(archive: Model, points: jax.Array, scores: jax.Array, valid: jax.Array) -> Model:
    """The ring with the valid rows added in row order (the last K of them when there are more); positions are
    distinct, so the scatter is the same on every device."""
    rows = archive.scores.shape[0]
    rank = jnp.cumsum(valid, dtype=jnp.int32) - 1
    total = jnp.sum(valid, dtype=jnp.int32)
    keep = valid & (rank >= total - rows)
    position = jnp.where(keep, (archive.count + rank) % rows, rows).astype(jnp.int32)  # `rows`: dropped
    return archive._replace(
        points=archive.points.at[position].set(points, mode="drop", unique_indices=True),
        scores=archive.scores.at[position].set(scores, mode="drop", unique_indices=True),
        count=archive.count + total)


def ready(archive: Model) -> jax.Array:
    """() bool: the archive is full (a model can be fitted)."""
    return archive.count >= archive.scores.shape[0]


def features(u: jax.Array) -> jax.Array:
    """(m,) the quadratic features of u (n,): 1, u_i, then u_i u_j for i ≤ j (row-major)."""
    first, second = np.triu_indices(u.shape[0])
    return jnp.concatenate([jnp.ones(1, u.dtype), u, u[first] * u[second]])


def model_step(archive: Model, center: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(delta (n,), ok (), shape (n, n)): the step from `center` (n,) to the fitted quadratic's minimiser of
    −score, whether to take it (a positive definite fit with finite values, and a step that moves the best at
    the coordinates' precision), and the fit's inverse Hessian up to a factor (zero without a positive definite
    fit).

    The fit runs in whitened coordinates: offsets from `center` times the inverse Cholesky factor of their second
    moment, scaled into |u| ≤ 1. Once phase 2 has learned an ill-conditioned shape, the archive is as stretched
    as the landscape; unwhitened, its short directions' squared features would sink below the ridge and the
    float32 fit would lose their curvature."""
    n = center.shape[0]
    offsets = archive.points.astype(jnp.float32) - center[None, :].astype(jnp.float32)
    second_moment = fixed_sum(offsets[:, :, None] * offsets[:, None, :], axis=0) / offsets.shape[0]
    factor, _ = cov.cholesky_pivot(second_moment)
    white = jax.vmap(lambda o: forward_substitute(factor, o))(offsets)  # (K, n), unit second moment
    spread = jnp.maximum(jnp.max(jnp.abs(white)), 1e-30)
    losses = -archive.scores
    low, high = jnp.min(losses), jnp.max(losses)
    y = ((losses - low) / jnp.maximum(high - low, 1e-30)).astype(jnp.float32)  # scores may be float64
    phi = jax.vmap(features)(white / spread)  # (K, m), features of |u| ≤ 1
    # least squares through a QR factorisation: its error grows with the condition of phi, the normal
    # equations' with its square
    coefficients = back_substitute(*least_squares_qr(phi, y, RIDGE * phi.shape[0]))
    gradient = coefficients[1:n + 1]
    first, second = np.triu_indices(n)
    upper = jnp.zeros((n, n), jnp.float32).at[first, second].set(coefficients[n + 1:], unique_indices=True)
    hessian = upper + upper.T  # the diagonal doubles: d²(c u_i²)/du_i² = 2c
    hessian_factor, smallest = cov.cholesky_pivot(hessian)
    u_star = -back_substitute(hessian_factor.T, forward_substitute(hessian_factor, gradient))
    length = jnp.sqrt(fixed_sum(u_star * u_star, axis=0))
    u_star = u_star * jnp.minimum(1.0, TRUST_RADIUS / jnp.maximum(length, 1e-30))
    ok = (smallest > PD_FLOOR) & jnp.all(jnp.isfinite(u_star)) & (high > low)
    delta = cov.matvec(factor, u_star * spread)
    # the inverse Hessian in the block's coordinates: (L R⁻ᵀ)(L R⁻ᵀ)ᵀ with H = R Rᵀ in whitened ones (times s²)
    inverse_factor = jax.vmap(lambda e: back_substitute(hessian_factor.T, e))(jnp.eye(n, dtype=jnp.float32))
    a = jax.vmap(lambda column: cov.matvec(factor, column))(inverse_factor)  # row j: column j of L R⁻ᵀ
    shape = fixed_sum(a[:, :, None] * a[:, None, :], axis=0)
    shape_ok = ok & jnp.all(jnp.isfinite(shape))
    delta = jnp.where(ok, delta, 0.0).astype(center.dtype)
    moves = jnp.any(center + delta != center)  # a step that rounds back to the best would be a duplicate
    return delta, ok & moves, jnp.where(shape_ok, shape, 0.0)


def fixed_sum(x: jax.Array, axis: int) -> jax.Array:
    """x summed over `axis` by pairwise additions in a fixed tree (element-wise adds only), so the result has
    the same bits on every device, unlike a reduction whose order the backend picks."""
    x = jnp.moveaxis(x, axis, 0)
    size = 1 << max(x.shape[0] - 1, 0).bit_length()
    x = jnp.concatenate([x, jnp.zeros((size - x.shape[0], *x.shape[1:]), x.dtype)])
    while x.shape[0] > 1:
        half = x.shape[0] // 2
        x = x[:half] + x[half:]
    return x[0]


def least_squares_qr(a: jax.Array, b: jax.Array, floor: float = 0.0) -> tuple[jax.Array, jax.Array]:
    """(R (m, m) upper, c (m,)) with R x = c the least-squares solution of a x ≈ b, a (N, m): modified
    Gram-Schmidt on [a | b] (backward stable for least squares, as Householder is), column by column, sums by
    `fixed_sum`; Q itself is not kept. `floor` is added to each column's squared norm, so that a column that
    depends on the earlier ones gets a coefficient near 0 instead of a division by 0."""
    columns = a.shape[1]
    padded = 1 << max(a.shape[0] - 1, 0).bit_length()  # zero rows change nothing; `fixed_sum` pads no more
    work = jnp.zeros((padded, columns + 1), a.dtype).at[:a.shape[0]].set(jnp.concatenate([a, b[:, None]], axis=1))
    later = jnp.arange(columns + 1)

    def column(j, carry):
        work, r = carry
        norm = jnp.sqrt(fixed_sum(work[:, j] * work[:, j], axis=0) + floor)
        q = work[:, j] / norm
        h = fixed_sum(q[:, None] * work, axis=0)  # (m + 1,): q's components of the columns after j (and b)
        h = jnp.where(later > j, h, 0.0)
        return work - q[:, None] * h[None, :], r.at[j].set(h.at[j].set(norm))

    _, r = jax.lax.fori_loop(0, columns, column, (work, jnp.zeros((columns, columns + 1), a.dtype)))
    return r[:, :columns], r[:, columns]


def forward_substitute(lower: jax.Array, b: jax.Array) -> jax.Array:
    """x (n,) with L x = b, L (n, n) lower triangular: column by column (element-wise updates)."""
    rows = jnp.arange(b.shape[0])

    def step(j, carry):
        rest, x = carry
        xj = rest[j] / lower[j, j]
        return rest - jnp.where(rows > j, lower[:, j] * xj, 0.0), x.at[j].set(xj)

    return jax.lax.fori_loop(0, b.shape[0], step, (b, jnp.zeros_like(b)))[1]


def back_substitute(upper: jax.Array, b: jax.Array) -> jax.Array:
    """x (n,) with U x = b, U (n, n) upper triangular: column by column from the last (element-wise updates)."""
    n = b.shape[0]
    rows = jnp.arange(n)

    def step(k, carry):
        j = n - 1 - k
        rest, x = carry
        xj = rest[j] / upper[j, j]
        return rest - jnp.where(rows < j, upper[:, j] * xj, 0.0), x.at[j].set(xj)

    return jax.lax.fori_loop(0, n, step, (b, jnp.zeros_like(b)))[1]


def model_rows(keys: jax.Array, sequential: jax.Array | bool) -> tuple[jax.Array, jax.Array]:
    """((P,) bool, (P,) float32): the rows that may be model steps, from their PRNG key data `keys` (P, k), and
    the multiple of the model step each takes. In sequential asks a `MODEL_SHARE` of them (a draw of each row's
    own stream, so a step is one whatever the block size), each taking the step itself; otherwise the last
    `MODEL_ROWS` of the generation (at least one), taking the step times `ladder` factors (1 for the last row):
    a line search along the step within one generation."""
    size = keys.shape[0]
    drawn = jax.vmap(lambda key: jax.random.uniform(jax.random.fold_in(jax.random.wrap_key_data(key), 2)))(keys)
    from_end = size - 1 - np.arange(size)
    last = from_end < max(1, int(size * MODEL_ROWS))
    factors = jnp.asarray(ladder(from_end), jnp.float32)
    return jnp.where(sequential, drawn < MODEL_SHARE, last), jnp.where(sequential, 1.0, factors)


def ladder(k: np.ndarray) -> np.ndarray:
    """The multiple of the model step that a generation's k-th model row from the end takes: 1, then 2^(∓1/2),
    2^(∓1), … alternately shorter and longer."""
    exponent = (k + 1) // 2 * np.where(k % 2 == 1, -0.5, 0.5)
    return 2.0 ** exponent
