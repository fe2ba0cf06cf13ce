"""Will a JAX-mode generation fit? An estimate of its memory, checked before anything is allocated.

A generation's decoded values live at once (P rows of every array parameter, one buffer), next to a fixed
number of candidate-sized arrays: the best, the merged candidate, the told population's base and given row,
one row's PRNG and hashing intermediates (a batch is at least one row), and JAX itself. Peak RSS measured
for candidates of 1e8 float32 elements (0.4 GB each; benchmarks/RESULTS.md §29): 11.4 GB at P = 8 and 17.7 GB
at P = 24, both (P + 20.4) candidates, hence (P + `FIXED_CANDIDATES`). A search that does not fit would be
killed by the system's out-of-memory killer (no Python error, nothing saved) or fail deep inside XLA; this
check says instead what to change, before the first compile. Small generations (under `CHECKED_BYTES`) are not checked.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

#: Candidate-sized arrays a generation holds besides its P rows of values (measured, see above).
FIXED_CANDIDATES = 21
#: Generations estimated below this many bytes are not checked (reading the available memory costs a file read).
CHECKED_BYTES = 2**30
#: Set to 1 to skip the check (the estimate is for hopper_jax's own arrays; your objective may need more or less).
SKIP_VARIABLE = "HOPPER_JAX_SKIP_MEMORY_CHECK"


def candidate_bytes(value_shapes: tuple) -> int:
    """Bytes of one candidate's decoded values, from the (P, ...) shapes and dtypes of a population's leaves."""
    return sum(int(np.prod(s.shape[1:], dtype=np.int64)) * np.dtype(s.dtype).itemsize for s in value_shapes)


def generation_bytes(population_size: int, per_candidate: int) -> int:
    """Estimated peak bytes of one generation of `population_size` candidates of `per_candidate` bytes."""
    return (population_size + FIXED_CANDIDATES) * per_candidate


def available_bytes(device: Any) -> int | None:
    """Bytes `device` can still allocate: its allocator's limit less what is in use (accelerators), or the
    system's available memory within this process's cgroup limit (CPU); None when it cannot be told."""
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" not in stats:
            return None
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    found = [b for b in (_meminfo_available(), _cgroup_room()) if b is not None]
    return min(found) if found else None


def check_generation_fits(population_size: int, value_shapes: tuple, device: Any = None) -> None:
    """Raise a ValueError that says what to change when a generation of `population_size` candidates with
    decoded values of `value_shapes` (P, ...) would not fit in `device`'s memory (default: JAX's first)."""
    per_candidate = candidate_bytes(value_shapes)
    need = generation_bytes(population_size, per_candidate)
    if need < CHECKED_BYTES or os.environ.get(SKIP_VARIABLE) == "1":
        return
    device = jax.devices()[0] if device is None else device
    room = available_bytes(device)
    if room is None or need <= room:
        return
    largest = max(room // max(per_candidate, 1) - FIXED_CANDIDATES, 0)
    advice = (f"pass population_size={largest} or less" if largest >= 1 else
              "a single candidate does not fit: use fewer or smaller array parameters")
    raise ValueError(
        f"A generation of population_size={population_size} candidates of {per_candidate / 1e9:.3g} GB each needs "
        f"about {need / 1e9:.3g} GB of memory on {device} (its values are decoded at once, next to about "
        f"{FIXED_CANDIDATES} candidate-sized work arrays), but only {room / 1e9:.3g} GB is available. To fit, "
        f"{advice}. chunk_size= bounds only the objective's own working memory, not the population's values. "
        f"Set {SKIP_VARIABLE}=1 to run anyway.")


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_room() -> int | None:
    """memory.max less memory.current of this process's cgroup (v2), None without a limit."""
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as f:
            return int(limit) - int(f.read().strip())
    except (OSError, ValueError):
        return None
