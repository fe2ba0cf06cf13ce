"""The 1/5 success rule (`core/step_size.py`): sequential changes exact in float32, the closed form of a block of
failures, a generation's update by its success rate, restarts at the floor."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from hopper_jax.core import step_size
from hopper_jax.core.step_size import LOG_STEP_RANGE, SUCCESS_TARGET, told
from support import quick_jit

BOUNDS = step_size.log_step_range(False)


@pytest.mark.parametrize("start", [0.0, -3.3, -11.99])
def test_a_block_of_failures_gives_the_log_step_of_one_failure_at_a_time(start):
    """The closed form a speculative block uses, restarts included, equals the step of sequential tells."""
    change = round(0.0505 * 2**16) / 2**16  # dyadic (exact in float32), and it does not divide the range
    log_step, trail = np.float32(start), []
    for _ in range(700):  # more than two restarts
        log_step = max(np.float32(log_step - np.float32(change)), np.float32(LOG_STEP_RANGE[0]))
        log_step = np.float32(0.0) if log_step <= LOG_STEP_RANGE[0] else log_step
        trail.append(log_step)
    closed = quick_jit(lambda n: step_size.after_failures(jnp.float32(start), n, change))(
        jnp.arange(1, 701, dtype=jnp.float32))
    assert trail.count(0.0) >= 2
    np.testing.assert_array_equal(np.asarray(closed), np.asarray(trail, np.float32))
    assert float(step_size.after_failures(jnp.float32(start), jnp.float32(0.0), change)) == np.float32(start)


def test_the_adaptation_rate_falls_with_the_float_elements_to_its_floor():
    assert [step_size.adaptation_rate(n) for n in (1, 2, 4, 8, 100)] == pytest.approx(
        [2 / 3, 1 / 2, 1 / 3, step_size.STEP_ADAPTATION, step_size.STEP_ADAPTATION])


def test_sequential_changes_are_dyadic_and_keep_the_target_rate_stationary():
    rise, fall = step_size.sequential_changes(0.3)
    assert rise * 2**16 == int(rise * 2**16) and fall * 2**16 == int(fall * 2**16)
    # one success in 1 / target tells leaves the step where it was (up to the dyadic rounding)
    assert rise - (1 / SUCCESS_TARGET - 1) * fall == pytest.approx(0.0, abs=2**-14)
    assert step_size.log_step_range(True)[0] < step_size.log_step_range(False)[0] < 0 < step_size.log_step_range(True)[1]


@pytest.mark.parametrize("counted, successes", [(1, 0), (5, 0), (1, 1), (7, 1)])
def test_a_sequential_tell_is_its_failures_then_its_successes_one_at_a_time(counted, successes):
    rate = 0.25
    rise, fall = step_size.sequential_changes(rate)
    expected = np.float32(-2.0)
    for _ in range(counted - successes):
        expected = np.float32(expected - np.float32(fall))
    for _ in range(successes):
        expected = np.float32(min(np.float32(expected + np.float32(rise)), np.float32(BOUNDS[1])))
    got = told(jnp.float32(-2.0), jnp.float32(counted), jnp.float32(successes), rate, BOUNDS, True)
    assert float(got) == expected


def test_a_generation_moves_the_step_by_its_success_rate_times_sqrt_n():
    def after(counted, successes):
        return float(told(jnp.float32(-1.0), jnp.float32(counted), jnp.float32(successes), 0.2, BOUNDS, False))

    assert after(10, 2) == pytest.approx(-1.0)  # at the target rate: unchanged
    assert after(0, 0) == -1.0  # no counted row: unchanged
    assert after(10, 5) > -1.0 > after(10, 0)
    # the same rate over 4× the rows moves the step twice as far
    assert after(40, 0) + 1.0 == pytest.approx(2 * (after(10, 0) + 1.0))
    assert after(10**6, 10**6) == BOUNDS[1]  # clipped at the ceiling


def test_a_generation_that_drives_the_step_to_its_floor_restarts_it(monkeypatch):
    start = jnp.float32(BOUNDS[0] + 0.01)
    assert float(told(start, jnp.float32(32), jnp.float32(0), 0.2, BOUNDS, False)) == 0.0
    monkeypatch.setattr(step_size, "RESTARTS", False)
    assert float(told(start, jnp.float32(32), jnp.float32(0), 0.2, BOUNDS, False)) == BOUNDS[0]
