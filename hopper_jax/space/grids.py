"""Grids of allowed values: decimals or significant digits for floats, exact integer logarithms for powers."""

from __future__ import annotations

import numpy as np


def round_to_grid(x: np.ndarray, precision: int, log: bool) -> np.ndarray:
    """Round to `precision` decimals (linear) or significant digits (log)."""
    x = np.asarray(x, dtype=np.float64)
    if not log:
        return np.round(x, precision)
    exponent = np.floor(np.log10(np.abs(np.where(x == 0, 1.0, x))))
    digits = precision - 1 - exponent  # decimals to keep
    scale = 10.0 ** np.abs(digits)
    return np.where(digits >= 0, np.round(x * scale) / scale, np.round(x / scale) * scale)


def grid_limits(lb: np.ndarray, ub: np.ndarray, precision: int, log: bool):
    """Smallest and largest grid values inside [lb, ub] (elementwise)."""
    lo, hi = round_to_grid(lb, precision, log), round_to_grid(ub, precision, log)
    step_lo = _grid_step(lo, precision, log)
    step_hi = _grid_step(hi, precision, log)
    lo = np.where(lo < lb, round_to_grid(lo + step_lo, precision, log), lo)
    hi = np.where(hi > ub, round_to_grid(hi - step_hi, precision, log), hi)
    return lo, hi


def _grid_step(x: np.ndarray, precision: int, log: bool) -> np.ndarray:
    if not log:
        return np.full_like(x, 10.0**-precision)
    return 10.0 ** (np.floor(np.log10(x)) - precision + 1)


def exact_log(value: int, base: int) -> int | None:
    exponent = 0
    while value > 1 and value % base == 0:
        value //= base
        exponent += 1
    return exponent if value == 1 else None


def floor_log(value: int, base: int) -> int:
    exponent = 0
    while base ** (exponent + 1) <= value:
        exponent += 1
    return exponent


def ceil_log(value: int, base: int) -> int:
    exponent = floor_log(value, base)
    return exponent if base**exponent == value else exponent + 1
