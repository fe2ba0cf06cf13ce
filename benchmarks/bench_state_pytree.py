"""Why HopperState stays a NamedTuple: the cost of flattening and unflattening the core's state as a NamedTuple
against the same fields as a `chex.dataclass` (the issue proposed chex for the core's state).

The shell passes the state into a jitted function at every propose and tell (`search/engine.py`), where JAX
flattens it, so its pytree cost is paid on the shell's hot path. Both variants hold the same arrays (a 3-leaf
space).

    python benchmarks/bench_state_pytree.py
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit

import chex
import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import report  # noqa: E402
from benchmarks.machine import fmt, markdown_table  # noqa: E402
from hopper_jax.core.algorithm import HopperState  # noqa: E402


@chex.dataclass
class ChexState:
    """HopperState's fields as a chex dataclass."""

    best: tuple
    best_score: jax.Array
    log_step: jax.Array
    count: jax.Array
    merged: tuple
    has_merged: jax.Array
    covariance: jax.Array
    factor: jax.Array
    path: jax.Array


def states() -> dict[str, object]:
    leaves = (jnp.zeros(3), jnp.zeros((4, 4)), jnp.zeros(()))
    fields = dict(best=leaves, best_score=jnp.float32(0), log_step=jnp.float32(0), count=jnp.int32(0),
                  merged=leaves, has_merged=jnp.bool_(False), covariance=jnp.eye(3), factor=jnp.eye(3),
                  path=jnp.zeros(3))
    return {"NamedTuple (HopperState)": HopperState(**fields), "chex.dataclass": ChexState(**fields)}


def microseconds(fn, repeat: int) -> float:
    """Best of 5 means over `repeat` calls, µs per call."""
    return min(timeit.repeat(fn, number=repeat, repeat=5)) / repeat * 1e6


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    report.add_output_arguments(p, "state_pytree", "fewer repeats")
    args = p.parse_args(argv)
    repeat = 2_000 if args.quick else 50_000
    rows, flat = [], {}
    for name, state in states().items():
        leaves, tree = jax.tree_util.tree_flatten(state)
        flat[name] = (microseconds(lambda s=state: jax.tree_util.tree_flatten(s), repeat),
                      microseconds(lambda t=tree, v=leaves: jax.tree_util.tree_unflatten(t, v), repeat))
        rows.append([name, fmt(flat[name][0], 3), fmt(flat[name][1], 3)])
    (named_f, named_u), (chex_f, chex_u) = flat.values()
    text = report.assemble("#### Flattening the core's state: NamedTuple against chex.dataclass (µs per call)",
                           markdown_table(["state", "flatten µs", "unflatten µs"], rows),
                           f"chex.dataclass / NamedTuple: flatten {chex_f / named_f:.2f}×, unflatten "
                           f"{chex_u / named_u:.2f}× (same 9 leaves; best of 5 × {repeat} calls).")
    report.emit(text, report.output_path(args))
    return text


if __name__ == "__main__":
    main()
