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
turns it off.

A stored executable runs as machine code, so only files this user wrote are loaded: the directory is created
0700 (whatever the umask) and refused, with one warning, if it is a symlink or is not owned by this user or
is writable by group or others (the cache is then off for the process); entries are written 0600 through a
new temporary file (`O_CREAT | O_EXCL | O_NOFOLLOW`, then renamed), opened without following links, and
loaded only if they are regular files of this user that start with a header naming the full key they were
written for: an entry renamed from another key (another space, flags or version) is a miss, never loaded.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import secrets
import stat
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jaxlib
import numpy as np
from jax.experimental import serialize_executable

from .._background import Background

#: Total size the cache directory is kept under (the oldest files are removed on a write beyond it).
MAX_CACHE_BYTES = 256 * 2**20
#: Values of HOPPER_JAX_CACHE_DIR that turn the cache off.
OFF = ("", "0", "off", "false", "none")
#: JAX settings that do not change compiled code (logging, caches): left out of the key.
NOT_CODE = ("_log_", "logging", "cache", "traceback")
#: Environment variables that change compiled code (XLA's and TPU's flags): part of the key.
CODE_VARIABLES = ("XLA_FLAGS", "LIBTPU_INIT_ARGS")
#: First bytes of every entry; the key's sha256 follows on the same line.
MAGIC = b"hopper_jax executable 1 "
_directory: list[Path | None] = []  # [] until first read; [None] when off


def cache_dir() -> Path | None:
    """The directory executables are kept in, or None when the cache is off (or its directory was refused)."""
    if not _directory:
        configured = os.environ.get("HOPPER_JAX_CACHE_DIR")
        if configured is not None:
            _directory.append(None if configured.strip().lower() in OFF else Path(configured).expanduser())
        else:
            base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
            _directory.append(Path(base) / "hopper_jax")
    return _directory[0]


def _safe_cache_dir() -> Path | None:
    """`cache_dir()` once it is checked (and created 0700 if missing); a refused directory warns once and turns
    the cache off for the process."""
    directory = cache_dir()
    if directory is None or directory in _trusted:
        return directory
    problem = _unsafe(directory)
    if problem is not None:
        warnings.warn(f"hopper_jax: not using {directory} to keep compiled functions: {problem}. Its files would "
                      f"run as this user's code. Set HOPPER_JAX_CACHE_DIR to a directory only you can write (or to "
                      f"'off'); until then each process compiles again.", RuntimeWarning, stacklevel=4)
        _directory[:] = [None]
        return None
    _trusted.add(directory)
    return directory


def set_cache_dir(path: str | os.PathLike | None) -> None:
    """Keep hopper_jax's compiled functions in `path` from now on; None turns the cache off."""
    _directory[:] = [None if path is None else Path(path).expanduser()]


_trusted: set[Path] = set()  # directories checked by _unsafe in this process


def _unsafe(directory: Path) -> str | None:
    """Why `directory` must not hold executables (None: it is safe), creating it 0700 if it is missing."""
    try:
        if not os.path.lexists(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)  # the umask may have widened what makedirs asked for
        status = os.lstat(directory)
    except OSError as error:
        return f"it cannot be created or read ({error})"
    if stat.S_ISLNK(status.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(status.st_mode):
        return "it is not a directory"
    if status.st_uid != os.getuid():
        return f"it belongs to user id {status.st_uid}, not to this user ({os.getuid()})"
    if status.st_mode & 0o022:
        return f"group or others can write it (mode {stat.S_IMODE(status.st_mode):o})"
    return None


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
    variables = [(name, os.environ.get(name)) for name in CODE_VARIABLES]
    return repr((_sources_hash(), jax.__version__, jaxlib.__version__, device.platform, device.device_kind,
                 device.client.platform_version, jax.device_count(), settings, variables))


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
        self._pending: dict[tuple, Background] = {}  # the same keys: executables being built (`compile_ahead`)

    @functools.cached_property
    def jitted(self):
        return jax.jit(self.__wrapped__, compiler_options=self._options())

    def __call__(self, *args):
        leaves, tree = jax.tree.flatten(args)
        key = _memory_key(tree, leaves)
        executable = self._executables.get(key)
        if executable is None:
            pending = self._pending.pop(key, None)
            executable = pending.result() if pending is not None else None
            if executable is None:  # not built ahead, or that failed: build it here (and raise here)
                executable = self._executable(args, tree, leaves)
            self._executables[key] = executable
        if executable is self.__dict__.get("jitted"):
            return executable(*args)
        try:
            return executable(*args)
        except (TypeError, ValueError):  # compiled for another weak type or placement of these arguments
            self._executables[key] = self.jitted
            return self.jitted(*args)

    def compile_ahead(self, *args) -> None:
        """Load, or trace and lower, the executable for arguments like `args` (same tree, shapes and dtypes) now,
        and compile it in a background thread (compiling does not hold Python's lock, tracing and lowering do);
        the first call on such arguments waits for it instead of compiling again."""
        leaves, tree = jax.tree.flatten(args)
        key = _memory_key(tree, leaves)
        if key in self._executables or key in self._pending:
            return
        ready, lowered, target = self._prepare(args, tree, leaves, ahead=True)
        if ready is not None:
            self._executables[key] = ready
        else:
            self._pending[key] = Background(_compile, lowered, target, name=f"hopper_jax-compile-{self._name}")

    def _cache_size(self) -> int:
        """Executables held in memory: the stored ones in use plus the plain jitted function's."""
        plain = self.__dict__.get("jitted")
        loaded = sum(executable is not plain for executable in self._executables.values())
        return loaded + (plain._cache_size() if plain is not None else 0)

    def clear(self) -> None:
        """Forget the executables held in memory (the files stay)."""
        for pending in self._pending.values():
            pending.result()  # a compile in flight finishes before its function is dropped
        self._pending.clear()
        self._executables.clear()
        self.__dict__.pop("jitted", None)

    def _executable(self, args: tuple, tree, leaves: list) -> Callable:
        ready, lowered, target = self._prepare(args, tree, leaves, ahead=False)
        return ready if ready is not None else _compile(lowered, target)

    def _prepare(self, args: tuple, tree, leaves: list, ahead: bool) -> tuple:
        """(an executable ready to call, None, None), or (None, the function lowered for `args`, (file, key) to
        store its executable under, or None). Without a cache on disk a call gets the jitted function, which
        compiles on its first call; compiled `ahead`, it gets an executable of its own, kept in memory only."""
        directory = None if self._context is None or not _on_default_device(leaves) else _safe_cache_dir()
        if directory is None:
            return (None, self.jitted.lower(*args), None) if ahead else (self.jitted, None, None)
        key = self._key(tree, leaves)
        file = directory / f"{self._name}-{key[:32]}.jaxexe"
        executable = _load(file, key)
        return (executable, None, None) if executable is not None else (None, self.jitted.lower(*args), (file, key))

    def _key(self, tree, leaves: list) -> str:
        """sha256 (hex) of everything the executable depends on; its first 32 digits name the file."""
        signature = repr((str(tree), [_abstract(leaf) for leaf in leaves]))
        text = "\0".join((self._name, self._context, signature, _environment()))
        return hashlib.sha256(text.encode()).hexdigest()


def _compile(lowered, target: tuple[Path, str] | None) -> Callable:
    """The executable of a lowered function, stored under `target` (file, key) when given."""
    executable = lowered.compile()
    if target is not None:
        _store(*target, executable, target[0].parent)
    return executable


def _memory_key(tree, leaves: list) -> tuple:
    """The key of an executable in memory: tree, shapes and dtypes (cheap: a call costs microseconds). Weak types
    and placement are checked when an executable is chosen; a later call that differs in them only falls back
    to the jitted function."""
    return (tree, *[(getattr(leaf, "shape", None), getattr(leaf, "dtype", type(leaf))) for leaf in leaves])


def _header(key: str) -> bytes:
    return MAGIC + key.encode() + b"\n"


def _load(file: Path, key: str) -> Callable | None:
    """The executable stored in `file` for `key`, or None: absent, a link, not this user's regular file, not
    private to this user, or written for another key (none of these is unpickled). A damaged entry of the
    right key is removed."""
    try:
        descriptor = os.open(file, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode) or status.st_uid != os.getuid() or status.st_mode & 0o022:
            return None
        header = _header(key)
        if handle.read(len(header)) != header:
            return None
        blob = handle.read()
    try:
        executable = serialize_executable.deserialize_and_load(*pickle.loads(blob))
        os.utime(file)  # recently used: pruned last
        return executable
    except Exception as error:  # noqa: BLE001 - a truncated file: compile again
        warnings.warn(f"hopper_jax: ignoring an unreadable compiled function {file} ({error!r}); it is compiled "
                      f"again.", RuntimeWarning, stacklevel=4)
        file.unlink(missing_ok=True)
        return None


_write_failed: list[str] = []


def _store(file: Path, key: str, executable, directory: Path) -> None:
    """Write `executable` to `file` (0600, through a new temporary file that no planted link can redirect),
    then prune; a failure warns once per process and is ignored."""
    try:
        blob = _header(key) + pickle.dumps(serialize_executable.serialize(executable))
        partial = file.with_name(f".{file.name}.{secrets.token_hex(8)}.part")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(blob)
            os.replace(partial, file)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
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
            status = path.lstat()
        except OSError:
            continue
        entries.append((status.st_mtime, status.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries, key=lambda entry: entry[0]):
        if total <= limit:
            break
        path.unlink(missing_ok=True)
        total -= size
