"""hopper_jax's own compiled functions, kept on disk so that a later process loads instead of compiling.

A search traces and compiles propose / tell / decode for its space: about 0.6 s for a small space on a
CPU and more for large ones (benchmarks/RESULTS.md §11). That code depends only on the space's signature,
the schedule, the argument shapes, hopper_jax's sources, JAX's version and configuration and the device,
so `PersistentFunction` stores each executable under a hash of all of these. A rerun of the same script
then loads it in milliseconds and skips tracing as well as compiling. JAX's persistent compilation cache
(opt-in and process-wide) would still trace and lower, and would also cache the user's own functions;
this cache holds hopper_jax's functions only.

Where: `$HOPPER_JAX_CACHE_DIR`, else `$XDG_CACHE_HOME/hopper_jax`, else `~/.cache/hopper_jax`; at most
`MAX_CACHE_BYTES`, oldest entries removed first. `HOPPER_JAX_CACHE_DIR=off` or `set_cache_dir(None)`
turns it off. A stored executable runs as machine code, like any compile cache: do not point the cache
at files that someone else could write.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jaxlib
import numpy as np
from jax.experimental import serialize_executable

#: Total size the cache directory is kept under (the oldest files are removed on a write beyond it).
MAX_CACHE_BYTES = 256 * 2**20
#: Values of HOPPER_JAX_CACHE_DIR that turn the cache off.
OFF = ("", "0", "off", "false", "none")
#: JAX settings that do not change compiled code (logging, caches): left out of the key.
NOT_CODE = ("_log_", "logging", "cache", "traceback")
_directory: list[Path | None] = []  # [] until first read; [None] when off


def cache_dir() -> Path | None:
    """The directory executables are kept in, or None when the cache is off."""
    if not _directory:
        configured = os.environ.get("HOPPER_JAX_CACHE_DIR")
        if configured is not None:
            _directory.append(None if configured.strip().lower() in OFF else Path(configured).expanduser())
        else:
            base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
            _directory.append(Path(base) / "hopper_jax")
    return _directory[0]


def set_cache_dir(path: str | os.PathLike | None) -> None:
    """Keep hopper_jax's compiled functions in `path` from now on; None turns the cache off."""
    _directory[:] = [None if path is None else Path(path).expanduser()]


@functools.cache
def _sources_hash() -> str:
    """sha256 of hopper_jax's Python sources: any edit of the package makes every stored entry stale."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _environment() -> str:
    """Everything outside the function that changes its executable: versions, device, JAX's settings."""
    device = jax.devices()[0]
    settings = sorted((name, repr(value)) for name, value in jax.config.values.items()
                      if not any(part in name for part in NOT_CODE))
    return repr((_sources_hash(), jax.__version__, jaxlib.__version__, device.platform, device.device_kind,
                 device.client.platform_version, jax.device_count(), settings))


def _abstract(leaf: Any) -> tuple:
    """What a stored executable is specific to in one argument: shape, dtype and weak type."""
    if isinstance(leaf, jax.Array | np.ndarray | np.generic):
        return leaf.shape, str(leaf.dtype), bool(getattr(leaf, "weak_type", False))
    return (type(leaf).__name__,)  # a Python scalar: a weakly typed scalar of its kind


def _on_default_device(leaves: list) -> bool:
    """True when every array among `leaves` is on the default device (host values count as such)."""
    default = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return jax.config.jax_default_device is None and all(
        leaf.sharding == default for leaf in leaves if isinstance(leaf, jax.Array))


class PersistentFunction:
    """`jax.jit(fn)` whose executables also live on disk (see the module docstring).

    Call it like the jitted function. Arguments whose arrays sit anywhere but on the default device
    (sharded, or committed elsewhere) go through the plain jitted function and are not stored.
    """

    def __init__(self, fn: Callable, name: str, context: str | None, options: Callable[[], dict | None]):
        """`context`: a string that determines `fn` and the compiler options it asks for (for hopper_jax's
        functions: space signature, schedule, quick compile or not), or None to keep nothing on disk.
        `options`: returns the XLA compiler options (called on the first compile only)."""
        self.__wrapped__ = fn
        self._name, self._context, self._options = name, context, options
        self._executables: dict[tuple, Any] = {}  # (tree, shapes and dtypes) -> executable or the jitted fn

    @functools.cached_property
    def jitted(self):
        return jax.jit(self.__wrapped__, compiler_options=self._options())

    def __call__(self, *args):
        # The in-memory key is cheap (a call costs microseconds); weak types and placement are checked when
        # an executable is chosen, and a later call that differs in them only falls back to the jitted fn.
        leaves, tree = jax.tree.flatten(args)
        key = (tree, *[(getattr(leaf, "shape", None), getattr(leaf, "dtype", type(leaf))) for leaf in leaves])
        executable = self._executables.get(key)
        if executable is None:
            executable = self._executables[key] = self._executable(args, tree, leaves)
        if executable is self.__dict__.get("jitted"):
            return executable(*args)
        try:
            return executable(*args)
        except (TypeError, ValueError):  # compiled for another weak type or placement of these arguments
            self._executables[key] = self.jitted
            return self.jitted(*args)

    def _cache_size(self) -> int:
        """Executables held in memory: the stored ones in use plus the plain jitted function's."""
        plain = self.__dict__.get("jitted")
        loaded = sum(executable is not plain for executable in self._executables.values())
        return loaded + (plain._cache_size() if plain is not None else 0)

    def clear(self) -> None:
        """Forget the executables held in memory (the files stay)."""
        self._executables.clear()
        self.__dict__.pop("jitted", None)

    def _executable(self, args: tuple, tree, leaves: list) -> Callable:
        directory = cache_dir()
        if directory is None or self._context is None or not _on_default_device(leaves):
            return self.jitted
        file = directory / f"{self._name}-{self._digest(tree, leaves)}.jaxexe"
        executable = _load(file)
        if executable is None:
            executable = self.jitted.lower(*args).compile()
            _store(file, executable, directory)
        return executable

    def _digest(self, tree, leaves: list) -> str:
        signature = repr((str(tree), [_abstract(leaf) for leaf in leaves]))
        text = "\0".join((self._name, self._context, signature, _environment()))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def _load(file: Path) -> Callable | None:
    """The executable stored in `file`, or None (absent, or unreadable: then the file is removed)."""
    try:
        blob = file.read_bytes()
    except OSError:
        return None
    try:
        executable = serialize_executable.deserialize_and_load(*pickle.loads(blob))
        os.utime(file)  # recently used: pruned last
        return executable
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file: compile again
        warnings.warn(f"hopper_jax: ignoring an unreadable compiled function {file} ({error!r}); it is compiled "
                      f"again.", RuntimeWarning, stacklevel=4)
        file.unlink(missing_ok=True)
        return None


_write_failed: list[str] = []


def _store(file: Path, executable, directory: Path) -> None:
    """Write `executable` to `file` atomically, then prune; a failure warns once per process and is ignored."""
    try:
        blob = pickle.dumps(serialize_executable.serialize(executable))
        directory.mkdir(parents=True, exist_ok=True)
        partial = file.with_name(f"{file.name}.{os.getpid()}.part")
        partial.write_bytes(blob)
        os.replace(partial, file)
        _prune(directory, MAX_CACHE_BYTES)
    except Exception as error:  # noqa: BLE001 - the cache is an optimisation: never fail a search for it
        if not _write_failed:
            warnings.warn(f"hopper_jax: cannot keep compiled functions in {directory} ({error!r}); each process "
                          f"compiles them again. Set HOPPER_JAX_CACHE_DIR to a writable directory, or to 'off'.",
                          RuntimeWarning, stacklevel=4)
        _write_failed.append(str(error))


def _prune(directory: Path, limit: int) -> None:
    """Remove the least recently used entries until the directory holds at most `limit` bytes."""
    entries = []
    for path in directory.glob("*.jaxexe"):
        try:
            status = path.stat()
        except OSError:
            continue
        entries.append((status.st_mtime, status.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries, key=lambda entry: entry[0]):
        if total <= limit:
            break
        path.unlink(missing_ok=True)
        total -= size
