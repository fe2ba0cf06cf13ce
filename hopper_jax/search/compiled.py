"""hopper_jax's own jitted functions for a space, shared by every `Search` over an equal space.

Tracing and compiling propose / decode / tell costs 0.6 s or more per space on a CPU. They are built from
the space and the algorithm only (never from a `Search`), and kept in a small cache keyed by
`Space.signature()`, the temperature schedule and `jax_enable_x64`, so a process that runs several searches
over the same space (seeds, restarts, a test suite) builds them once. Each is a `PersistentFunction`: its executables
are also kept on disk (`hopper_jax.persistence.executables`), so a later process loads them instead of
tracing and compiling. `clear()` empties the in-process cache (the files stay).
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..core.algorithm import Hopper
from ..persistence.executables import PersistentFunction
from ..space.compile import Space
from ..space.fingerprint import fingerprint
from . import generations
from .generations import OBJECTIVE_SALT, step_keys, summaries

#: Spaces with at most this many array elements per candidate compile these functions with `QUICK_OPTIONS`:
#: that cuts the compile time of propose about 5x, and at this size a call costs well under a millisecond
#: either way (larger spaces keep the fast code; see benchmarks/RESULTS.md §11).
QUICK_COMPILE_ELEMENTS = 64
#: XLA CPU options for quick compiles: the lowest backend optimisation level and the older (non-fusion)
#: emitters, which halve the compile time again at level 0. Options a jaxlib lacks are left out.
QUICK_OPTIONS = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
#: Spaces whose functions are kept.
CACHE_SIZE = 16


class Compiled(NamedTuple):
    """Jitted functions of one space and schedule; each accepts any population size."""

    propose: object  # (base_key, first_step, retry, state, progress, heat, explore, sequential)
    #                   -> (pop, values, fps, model candidates)
    prepare: object  # (base_key, first_step, retry, state, progress, heat, explore) of one row -> state
    keys: object  # (base_key, first_step, rows (P,)) -> (P,) objective keys
    decode: object  # encoded rows -> (values, fingerprints)
    tell: object  # (state, population, scores) -> state
    tell_sequential: object  # the same, rows told one after the other
    encode: object  # population -> (P, *shape) internal encodings (rows edited on the host)
    tell_generation: object  # JAX mode's engine step a generation at a time, in two halves called one after
    propose_generation: object  # the other: `generations.tell_step` and `generations.propose_step`
    summarize: object  # decoded (P, ...) leaves -> (P, 4) mean, std, min, max per leaf


_cache: OrderedDict[tuple, Compiled] = OrderedDict()


def schedule_identity(schedule: tuple[float, float] | Callable) -> tuple:
    """A key that determines a temperature schedule: `(start, end)` of the linear one, or a digest of a
    schedule function's jaxpr and constants (two functions that compute the same share compiled code)."""
    if not callable(schedule):
        start, end = schedule
        return ("linear", float(start), float(end))
    try:
        closed = jax.make_jaxpr(schedule)(jax.ShapeDtypeStruct((), jnp.float32))
    except Exception as error:
        raise ValueError(f"temperature_schedule={schedule!r} could not be traced as a JAX function of progress (a "
                         f"float32 scalar in [0, 1], the share of the budget spent). Pass an optax schedule, e.g. "
                         f"optax.cosine_decay_schedule(1.0, decay_steps=1, alpha=0.2), or a jnp expression of "
                         f"progress: {type(error).__name__}: {error}") from error
    digest = hashlib.sha256(str(closed.jaxpr).encode())
    for constant in closed.consts:
        constant = np.asarray(constant)
        digest.update(f"{constant.dtype}{constant.shape}".encode() + constant.tobytes())
    return ("schedule", digest.hexdigest())


def compiled(space: Space, algo: Hopper, schedule: tuple) -> Compiled:
    """The shared functions for `space` with `algo` (built from `space` at the schedule whose
    `schedule_identity` is `schedule`)."""
    signature = space.signature()
    if signature is None:  # an encoding this cache cannot compare: compile for this search alone, keep nothing
        return _build(space, algo, None)
    key = (signature, schedule, bool(jax.config.jax_enable_x64))  # 64-bit JAX traces other programs
    if key in _cache:
        _cache.move_to_end(key)
    else:
        _cache[key] = _build(space, algo, hashlib.sha256(repr(key).encode()).hexdigest())
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return _cache[key]


def clear() -> None:
    """Forget every space's functions and executables held in this process (the files on disk stay)."""
    for functions in _cache.values():
        for function in functions:
            function.clear()
    _cache.clear()


def seed_key(seed: int) -> jax.Array:
    """`jax.random.key(seed)`. For JAX's default threefry keys and 0 <= seed < 2**31 its data is (0, seed), put on
    the device directly: `jax.random.key` runs a program, which a fresh process compiles (about 0.04 s)."""
    if 0 <= seed < 2**31 and jax.config.jax_default_prng_impl == "threefry2x32":
        return jax.random.wrap_key_data(np.array([0, seed], np.uint32))
    return jax.random.key(seed)


@functools.cache
def quick_options() -> dict:
    """`QUICK_OPTIONS` less the ones this jaxlib does not know (checked once, on a one-op function)."""
    options = {}
    for name, value in QUICK_OPTIONS.items():
        try:
            jax.jit(lambda x: x, compiler_options={**options, name: value}).lower(np.float32(0)).compile()
            options[name] = value
        except Exception:  # noqa: BLE001 - an unknown option: compile without it
            pass
    return options


def _build(space: Space, algo: Hopper, identity: str | None) -> Compiled:
    """The functions of `space`; `identity` names them on disk (None: an unnamed space, memory only)."""
    quick = space.array_size <= QUICK_COMPILE_ELEMENTS and jax.default_backend() == "cpu"
    context = None if identity is None else f"{identity} {QUICK_OPTIONS if quick else None}"

    def jit(fn, name=None):
        return PersistentFunction(fn, name or fn.__name__, context, quick_options if quick else lambda: None)

    def decode(encoded):
        def one(row):
            values = space.decode(row)
            active = space.active(row)[jnp.asarray(space.array_leaves, jnp.int32)] if space.has_conditions else None
            return values, fingerprint(values, active)

        return jax.vmap(one)(encoded)

    def prepare(base_key, first_step, retry, state, progress, heat, explore):
        """The state for a sequential ask from `first_step`, with the model fitted first when that step is a
        model candidate. Its inputs are the first row's, so it is one executable whatever the ask's size: a fit
        compiled into asks of different sizes could round differently, and speculative blocks would not be exact."""
        keys = step_keys(base_key, first_step, 1, retry)
        due = algo.model_candidates(keys, progress, heat, explore)[0]
        return jax.lax.cond(due, algo.refit, lambda state: state, state)

    def propose(base_key, first_step, retry, state, progress, heat, explore, sequential):
        keys = step_keys(base_key, first_step, progress.shape[0], retry)
        candidates = algo.model_candidates(keys, progress, heat, explore) & sequential
        population = algo.ask(keys, state, progress, heat, explore, sequential)
        if not space.array_leaves:  # only Python-side parameters (or none): nothing to decode on device
            return population, (), jnp.zeros((progress.shape[0], 2), jnp.uint32), candidates
        values = algo.decode(population)
        return population, values, algo.fingerprints(population, values), candidates

    def keys(base_key, first_step, rows):
        return step_keys(base_key, first_step, rows.shape[0], OBJECTIVE_SALT)

    return Compiled(
        propose=jit(propose),
        prepare=jit(prepare),
        keys=jit(keys),
        decode=jit(decode),
        tell=jit(algo.tell, "tell"),
        tell_sequential=jit(functools.partial(algo.tell, sequential=True), "tell_sequential"),
        encode=jit(algo.encode, "encode"),
        tell_generation=jit(generations.tell_step(algo), "tell_generation"),
        propose_generation=jit(generations.propose_step(algo), "propose_generation"),
        summarize=jit(summaries, "summarize"),
    )
