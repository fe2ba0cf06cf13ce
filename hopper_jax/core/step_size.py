"""Phase 2's adaptive step size: log_step, the log of a multiplier of the temperature's step, set by the 1/5 success
rule (Rechenberg), with restarts from full size once it reaches its floor.

A sequential search (one candidate per tell, or the shell's speculative blocks) changes log_step by dyadic amounts,
so that float32 adds them exactly and a block of rows told at once gives the bits one-at-a-time tells would. A
generation of n counted rows changes it as √n sequential tells would (its success rate against the target).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

#: Success rate the step adaptation aims for (Rechenberg's 1/5 rule).
SUCCESS_TARGET = 0.2
#: Change of log_step per unit of (success - target) / (1 - target), for one sequential evaluation, in a space
#: of 8 or more float elements.
STEP_ADAPTATION = 0.2
#: A space of n < 8 float elements adapts faster, at 1 / (1 + n / 2): the damping of the (1+1)-CMA-ES's success
#: rule in n dimensions (Igel, Suttorp and Hansen 2006), which equals STEP_ADAPTATION at n = 8. At d = 2 a
#: phase-2 step then shrinks to a valley's width in 2/5 of the evaluations (benchmarks/RESULTS.md §45).
#: An ablation setting (False: STEP_ADAPTATION everywhere); the engine caches' keys do not see it.
ADAPTATION_BY_SIZE = True
#: Range of log_step: exp(-12) times the step at temperature 1 is about float32's resolution of the unit box.
LOG_STEP_RANGE = (-12.0, 1.0)
#: The floor of log_step with float64 coordinates: exp(-28) ≈ 7e-13, above float64's resolution.
LOG_STEP_FLOOR_64 = -28.0
#: A phase-2 search whose log_step falls to the floor has converged as far as its steps resolve: it starts
#: again from full steps (log_step 0) around the best (False: it stays at the floor).
RESTARTS = True


def adaptation_rate(n_floats: int) -> float:
    """The default rate of the step adaptation for a space of `n_floats` float elements (see
    `ADAPTATION_BY_SIZE`): 1 / (1 + n / 2), and never below `STEP_ADAPTATION`."""
    if not ADAPTATION_BY_SIZE or n_floats < 1:
        return STEP_ADAPTATION
    return max(STEP_ADAPTATION, 1.0 / (1.0 + n_floats / 2.0))


def log_step_range(float64: bool) -> tuple[float, float]:
    """(floor, ceiling) of log_step for float32 or float64 coordinates (float64 resolves far smaller steps)."""
    return (LOG_STEP_FLOOR_64 if float64 else LOG_STEP_RANGE[0], LOG_STEP_RANGE[1])


def sequential_changes(rate: float) -> tuple[float, float]:
    """(rise per success, fall per failure) of log_step at adaptation `rate`, as multiples of 2^-16: float32 adds
    them exactly, so a sequential run does not depend on how many candidates the shell proposes per device call."""
    return _dyadic(rate), _dyadic(rate * SUCCESS_TARGET / (1 - SUCCESS_TARGET))


def after_failures(log_step: jax.Array, failures: jax.Array, change: float,
                   floor: float = LOG_STEP_RANGE[0]) -> jax.Array:
    """log_step after `failures` sequential failures, each lowering it by `change` (a dyadic number: exact in
    float32) down to the floor, where, with `RESTARTS`, it starts again from 0 (in closed form, so that a
    speculative block of rows gets the values one-at-a-time tells would give)."""
    lowered = jnp.maximum(log_step - failures * change, floor)
    if not RESTARTS:
        return lowered
    to_floor = jnp.ceil((log_step - floor) / change)  # failures until the first restart (>= 1 above the floor)
    cycle = float(np.ceil(-floor / change))  # failures from 0 to the next restart
    past = failures - jnp.maximum(to_floor, 1.0)
    return jnp.where(past < 0, lowered, 0.0 - jnp.mod(past, cycle) * change)


def told(log_step: jax.Array, counted: jax.Array, successes: jax.Array, rate: float,
         bounds: tuple[float, float], sequential: bool) -> jax.Array:
    """log_step after a tell of `counted` () rows that moved floats only, `successes` () of them better than the
    best. `sequential`: the rows count as that many one-at-a-time tells, the successes last (exact when only the
    last row may improve, as in the shell's speculative blocks); otherwise the rows' success rate moves log_step
    as √counted sequential tells would."""
    if sequential:
        success_change, failure_change = sequential_changes(rate)
        lowered = after_failures(log_step, counted - successes, failure_change, bounds[0])
        return jnp.minimum(lowered + successes * success_change, bounds[1])
    pressure = (successes / jnp.maximum(counted, 1) - SUCCESS_TARGET) / (1 - SUCCESS_TARGET)
    change = rate * jnp.sqrt(counted.astype(jnp.float32)) * pressure
    log_step = jnp.clip(log_step + jnp.where(counted > 0, change, 0.0), *bounds)
    if RESTARTS:  # converged: full steps again
        log_step = jnp.where(log_step <= bounds[0], 0.0, log_step)
    return log_step


def _dyadic(x: float, bits: int = 16) -> float:
    """`x` rounded to a multiple of 2^-bits."""
    return round(x * 2**bits) / 2**bits
