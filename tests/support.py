"""Helpers shared by several test modules (tests/ is on sys.path through tests/conftest.py)."""

import os
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _refuse_to_load():
    raise ImportError("the objective's module is missing here")


class LoadsNowhere:
    """An objective that pickles but cannot be loaded in a worker process (unpickling raises ImportError)."""

    def __reduce__(self):
        return _refuse_to_load, ()

    def __call__(self, candidate):
        return 0.0


def run_quick(script: str, timeout: float = 300) -> str:
    """stdout of `python benchmarks/<script> --quick` on the CPU (fails the test on a non-zero exit)."""
    env = {**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
    result = subprocess.run([sys.executable, f"benchmarks/{script}", "--quick"], cwd=ROOT, env=env, check=False,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def cells(line: str) -> list[str]:
    """The stripped cells of one markdown table line."""
    return [c.strip() for c in line.strip().strip("|").split("|")]


def evaluate_all(pool, candidates):
    """Evaluate every candidate through `pool`, keeping every worker busy; {index: Outcome}."""
    results, todo = {}, list(enumerate(candidates))
    while todo or pool.in_flight():
        while todo and pool.in_flight() < pool.capacity:
            pool.submit(*todo.pop(0))
        results.update(pool.wait(timeout=30))
    return results


def read_scalars(logdir):
    """{tag: [(step, value), ...]} from the TFRecord event files under `logdir` (parsed by hand)."""
    from tensorboardX.proto import event_pb2

    scalars = {}
    for file in sorted(Path(logdir).glob("events.out.tfevents.*")):
        data, position = file.read_bytes(), 0
        while position < len(data):
            (length,) = struct.unpack("<Q", data[position:position + 8])
            event = event_pb2.Event.FromString(data[position + 12:position + 12 + length])
            position += 12 + length + 4  # length, its CRC, the record, its CRC
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def quick_jit(fun=None, **jit_options):
    """`jax.jit` with the quick compile options the engine uses for small spaces on a CPU (XLA's lowest
    optimisation level): the core's tests compile dozens of small programs and run each a few times, so the
    default options cost them more in compiling than they save in running. Use as `jax.jit`, with or without
    arguments."""
    import functools

    import jax

    from hopper_jax.search.compiled import quick_options

    if fun is None:
        return functools.partial(quick_jit, **jit_options)
    return jax.jit(fun, compiler_options=quick_options(), **jit_options)
