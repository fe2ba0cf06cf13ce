"""Tests for hopper_jax.persistence.executables: hopper_jax's compiled functions kept on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopper_jax as hj
from hopper_jax.persistence import executables
from hopper_jax.persistence.executables import PersistentFunction
from hopper_jax.search import compiled as compiled_module

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def cache(tmp_path):
    """A fresh cache directory for this test, and nothing of other tests' functions held in memory."""
    saved = list(executables._directory)
    executables.set_cache_dir(tmp_path / "cache")
    compiled_module.clear()
    yield tmp_path / "cache"
    compiled_module.clear()
    executables._directory[:] = saved


def space() -> dict:
    return {"x": hj.float(-1.0, 1.0, shape=(3,)), "lr": hj.float(1e-4, 1.0, log=True), "n": hj.int(1, 8)}


def objective(p):
    return -jnp.sum((p["x"] - 0.25) ** 2) - jnp.log10(p["lr"] / 3e-2) ** 2 - 0.01 * (p["n"] - 5) ** 2


def search_run() -> tuple[hj.Search, list[float]]:
    search = hj.Search(space())
    search.run(objective, "max", mode="jax", population_size=8, generations=3, seed=3, quiet=True)
    return search, search.history.fs


def compiled_anything(search: hj.Search) -> bool:
    """True when one of the search's functions traced or compiled (it holds a jitted function)."""
    return any("jitted" in function.__dict__ for function in search.engine.compiled())


def test_a_later_run_loads_every_function_and_gets_the_same_results(cache):
    first, fs = search_run()
    assert compiled_anything(first)
    stored = sorted(p.name for p in cache.iterdir())
    assert {name.split("-")[0] for name in stored} >= {"tell_generation", "propose_generation"}
    compiled_module.clear()  # as in a new process: nothing in memory, the files stay
    jax.clear_caches()
    second, again = search_run()
    assert not compiled_anything(second)
    assert again == fs
    assert sorted(p.name for p in cache.iterdir()) == stored  # nothing new written


CHILD = """
import json, sys
sys.path.insert(0, {root!r})
from tests.persistence.test_executables import compiled_anything, search_run
search, fs = search_run()
print(json.dumps({{"compiled": compiled_anything(search), "fs": fs}}))
"""


def test_a_second_process_loads_what_the_first_stored(tmp_path):
    env = {**os.environ, "HOPPER_JAX_CACHE_DIR": str(tmp_path / "cache"), "JAX_PLATFORMS": "cpu"}
    runs = [json.loads(subprocess.run([sys.executable, "-c", CHILD.format(root=ROOT)], env=env, check=True,
                                      capture_output=True, text=True).stdout.strip().splitlines()[-1])
            for _ in range(2)]
    assert runs[0]["compiled"] and not runs[1]["compiled"]
    assert runs[0]["fs"] == runs[1]["fs"]


def test_another_population_size_or_space_is_another_entry(cache):
    search_run()
    count = len(list(cache.iterdir()))
    hj.Search(space()).run(objective, "max", mode="jax", population_size=4, generations=2, seed=0, quiet=True)
    assert len(list(cache.iterdir())) > count
    count = len(list(cache.iterdir()))
    wider = hj.Search({**space(), "x": hj.float(-2.0, 2.0, shape=(3,))})
    wider.run(objective, "max", mode="jax", population_size=8, generations=2, seed=0, quiet=True)
    assert compiled_anything(wider)
    assert len(list(cache.iterdir())) > count


def test_a_damaged_entry_is_compiled_again_with_a_warning_and_a_foreign_file_silently(cache):
    _, fs = search_run()
    files = sorted(cache.iterdir())
    files[0].write_bytes(files[0].read_bytes()[:200])  # its header intact, its body cut short
    for path in files[1:]:
        path.write_bytes(b"not an executable")  # no header: never unpickled
    compiled_module.clear()
    with pytest.warns(RuntimeWarning, match="unreadable compiled function") as caught:
        search, again = search_run()
    assert len([w for w in caught if "unreadable" in str(w.message)]) == 1
    assert compiled_anything(search) and again == fs
    assert all(path.stat().st_size > 1000 for path in cache.iterdir())  # rewritten


def test_an_unwritable_directory_warns_once_and_the_search_still_runs(tmp_path, cache):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    executables.set_cache_dir(blocker / "cache")  # a directory under a file cannot be created
    executables._write_failed.clear()
    with pytest.warns(RuntimeWarning, match="not using .* cannot be created") as caught:
        _, fs = search_run()
    assert len([w for w in caught if "not using" in str(w.message)]) == 1
    executables.set_cache_dir(None)
    compiled_module.clear()
    assert search_run()[1] == fs


def test_off_keeps_nothing_and_compiles_as_jax_jit(cache):
    executables.set_cache_dir(None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search, _ = search_run()
    assert compiled_anything(search)
    assert not cache.exists()


@pytest.mark.parametrize("value, expected", [("off", None), ("0", None), ("", None), ("~/somewhere", "somewhere")])
def test_the_environment_variable_sets_the_directory(monkeypatch, value, expected):
    saved = list(executables._directory)
    try:
        executables._directory.clear()
        monkeypatch.setenv("HOPPER_JAX_CACHE_DIR", value)
        directory = executables.cache_dir()
        assert (directory is None) if expected is None else (directory.name == expected and directory.is_absolute())
        executables._directory.clear()
        monkeypatch.delenv("HOPPER_JAX_CACHE_DIR")
        monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
        assert str(executables.cache_dir()) == "/xdg/hopper_jax"
    finally:
        executables._directory[:] = saved


def test_arrays_placed_elsewhere_go_through_jit_and_are_not_stored(cache):
    double = PersistentFunction(lambda x: 2 * x, "double", "test", lambda: None)
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("rows",))

    def placed(n):
        return jax.device_put(np.arange(n, dtype=np.float32),
                              jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("rows")))

    np.testing.assert_array_equal(double(placed(4)), 2 * np.arange(4.0))
    assert not cache.exists()
    np.testing.assert_array_equal(double(np.arange(5, dtype=np.float32)), 2 * np.arange(5.0))
    assert [p.name.split("-")[0] for p in cache.iterdir()] == ["double"]
    np.testing.assert_array_equal(double(placed(5)), 2 * np.arange(5.0))  # same shape, placed: still right
    assert len(list(cache.iterdir())) == 1


@pytest.mark.parametrize("on_disk", [True, False])
def test_a_function_compiled_ahead_is_the_one_its_first_call_runs(cache, on_disk, monkeypatch):
    if not on_disk:
        executables.set_cache_dir(None)
    double = PersistentFunction(lambda x: 2 * x, "double", "test", lambda: None)
    x = np.arange(4, dtype=np.float32)
    double.compile_ahead(x)
    pending = double._pending[next(iter(double._pending))]
    ahead = pending.result()
    assert ahead is not None and ahead is not double.__dict__.get("jitted")  # an executable of its own
    monkeypatch.setattr(executables, "_compile", lambda *_: pytest.fail("compiled again on the call"))
    np.testing.assert_array_equal(double(x), 2 * x)
    assert not double._pending and ahead in double._executables.values()
    stored = [p.name.split("-")[0] for p in cache.iterdir()] if cache.exists() else []
    assert stored == (["double"] if on_disk else [])
    double.compile_ahead(x)  # already held: nothing started
    assert not double._pending


def test_a_failed_compile_ahead_is_done_again_by_the_call_which_raises_there(cache):
    calls = []

    def shaky(x):
        calls.append(x.shape)
        if len(calls) == 1:
            raise RuntimeError("first trace fails")
        return x + 1

    function = PersistentFunction(shaky, "shaky", "test", lambda: None)
    x = np.zeros(3, np.float32)
    with pytest.raises(RuntimeError, match="first trace fails"):  # tracing and lowering run in the caller
        function.compile_ahead(x)
    np.testing.assert_array_equal(function(x), x + 1)
    broken = PersistentFunction(lambda x: x, "broken", "test", lambda: None)
    broken.compile_ahead(x)
    key = next(iter(broken._pending))
    broken._pending[key]._value, broken._pending[key]._thread = None, _finished_thread()  # as if it raised
    np.testing.assert_array_equal(broken(x), x)  # compiled in the caller instead


def _finished_thread():
    import threading

    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    return thread


def test_pruning_removes_the_least_recently_used_first(tmp_path):
    for age, name in enumerate(["new", "middle", "old"]):
        path = tmp_path / f"{name}.jaxexe"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1e9 - 1000 * age, 1e9 - 1000 * age))
    executables._prune(tmp_path, 250)
    assert sorted(p.stem for p in tmp_path.iterdir()) == ["middle", "new"]
    executables._prune(tmp_path, 100)
    assert [p.stem for p in tmp_path.iterdir()] == ["new"]


# ---- safety: nothing from disk runs unless this user wrote it ---------------------------------------------------
class Planted:
    """Unpickling this creates `marker`: the sign of code run from a planted file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _entries(directory):
    return sorted(p for p in directory.iterdir() if p.suffix == ".jaxexe")


@pytest.mark.parametrize("name, value", [("XLA_FLAGS", "--xla_gpu_deterministic_ops=true"),
                                         ("LIBTPU_INIT_ARGS", "--xla_tpu_enable_latency_hiding_scheduler=true")])
def test_the_key_covers_the_compiler_flags_in_the_environment(monkeypatch, name, value):
    monkeypatch.delenv(name, raising=False)
    before = executables._environment()
    monkeypatch.setenv(name, value)
    assert executables._environment() != before


def test_the_directory_is_created_private_and_entries_are_private_whatever_the_umask(cache):
    old = os.umask(0)
    try:
        search_run()
    finally:
        os.umask(old)
    assert (cache.stat().st_mode & 0o777) == 0o700
    assert _entries(cache) and all((p.stat().st_mode & 0o777) == 0o600 for p in _entries(cache))
    assert not [p for p in cache.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize("problem", ["group-writable", "someone else's", "a symlink"])
def test_an_unsafe_directory_is_refused_once_and_nothing_there_is_loaded_or_written(tmp_path, cache, monkeypatch,
                                                                                   problem):
    target = tmp_path / "shared"
    target.mkdir(mode=0o700)
    marker = tmp_path / "code_ran"
    directory = target
    if problem == "group-writable":
        os.chmod(target, 0o770)
    elif problem == "someone else's":
        monkeypatch.setattr(os, "getuid", lambda: os.stat(target).st_uid + 1)
    else:
        directory = tmp_path / "link"
        directory.symlink_to(target, target_is_directory=True)
    executables.set_cache_dir(directory)
    executables._trusted.clear()
    function = PersistentFunction(lambda x: x + 1, "planted", "context", lambda: None)
    leaves, tree = jax.tree.flatten((np.float32(1),))
    key = function._key(tree, leaves)
    import pickle

    (target / f"planted-{key[:32]}.jaxexe").write_bytes(executables._header(key) + pickle.dumps(Planted(marker)))
    with pytest.warns(RuntimeWarning, match="not using") as caught:
        assert float(function(np.float32(1))) == 2.0
        assert float(PersistentFunction(lambda x: x * 3, "other", "context", lambda: None)(np.float32(1))) == 3.0
    assert len([w for w in caught if "not using" in str(w.message)]) == 1
    assert not marker.exists() and len(list(target.iterdir())) == 1  # nothing ran, nothing written
    assert executables.cache_dir() is None


def test_an_entry_renamed_from_another_key_is_a_miss_never_loaded(cache):
    tiny = PersistentFunction(lambda x: x + 1, "f", "space A", lambda: None)
    assert float(tiny(np.float32(1))) == 2.0
    (stored,) = _entries(cache)
    other = PersistentFunction(lambda x: x - 1, "f", "space B", lambda: None)
    leaves, tree = jax.tree.flatten((np.float32(1),))
    target = cache / f"f-{other._key(tree, leaves)[:32]}.jaxexe"
    os.replace(stored, target)  # another space's executable under this key's name
    assert float(other(np.float32(1))) == 0.0  # compiled afresh: x - 1, not the renamed x + 1
    assert executables._header(other._key(tree, leaves)) == target.read_bytes()[:len(executables._header("k" * 64))]


def test_a_headerless_planted_entry_is_never_unpickled(tmp_path, cache):
    marker = tmp_path / "code_ran"
    function = PersistentFunction(lambda x: x * 2, "g", "context", lambda: None)
    leaves, tree = jax.tree.flatten((np.float32(2),))
    cache.mkdir(mode=0o700)
    import pickle

    (cache / f"g-{function._key(tree, leaves)[:32]}.jaxexe").write_bytes(pickle.dumps(Planted(marker)))
    assert float(function(np.float32(2))) == 4.0
    assert not marker.exists()


def test_planted_links_are_never_followed_for_reading_or_writing(tmp_path, cache):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    function = PersistentFunction(lambda x: x * 5, "h", "context", lambda: None)
    leaves, tree = jax.tree.flatten((np.float32(1),))
    cache.mkdir(mode=0o700)
    entry = cache / f"h-{function._key(tree, leaves)[:32]}.jaxexe"
    entry.symlink_to(victim)
    assert float(function(np.float32(1))) == 5.0
    assert victim.read_text() == "precious"  # the link was replaced by a new file, not written through
    assert not entry.is_symlink() and entry.read_bytes().startswith(executables.MAGIC)
