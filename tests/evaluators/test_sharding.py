"""Sharded and chunked JAX evaluation. Multi-device checks run in child processes with emulated CPU devices
(the device count is fixed when JAX starts); each child prints one JSON line that the tests assert on."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopper_jax as hj
from hopper_jax.evaluators import BatchedEvaluator
from hopper_jax.evaluators.sharding import Layout
from hopper_jax.space.compile import Space

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90

COMMON = """
import json, sys
import jax, jax.numpy as jnp, numpy as np
import hopper_jax as hj
from hopper_jax.evaluators import BatchedEvaluator
from hopper_jax.space.compile import Space

SPACE = Space({"w": hj.float(-1.0, 1.0, shape=(7,)), "k": hj.int(0, 5)})

def loss(c):
    return jnp.sum(jnp.sin(3.1 * c["w"]) ** 2) + 0.1 * c["k"]

def population(size):
    z = (jax.random.uniform(jax.random.key(1), (size, 7)), jax.random.uniform(jax.random.key(2), (size,)))
    return jax.jit(jax.vmap(SPACE.decode))(z)

def evaluate(size, **options):
    evaluator = BatchedEvaluator(loss, SPACE, "jax", **options)
    values = population(size)
    evaluator.check(values)
    out = evaluator(values)
    again = evaluator(values)
    return {"values": out.tolist(), "same_twice": bool(np.array_equal(out, again)),
            "shards": evaluator.last_shards(), "compiles": evaluator._compiled._cache_size()}

def noisy(c, key):
    return loss(c) + jax.random.normal(key)

def noisy_population(p, key):
    return jax.vmap(lambda w, k, r: noisy({"w": w, "k": k}, r))(p["w"], p["k"], key)

def evaluate_keys(size, mode="jax", **options):
    evaluator = BatchedEvaluator(noisy if mode == "jax" else noisy_population, SPACE, mode, **options)
    values, keys = population(size), jax.random.split(jax.random.key(3), size)
    evaluator.check(values, keys)
    alone = [float(noisy(SPACE.jax_tree(tuple(v[i] for v in values)), keys[i])) for i in range(size)]
    return {"values": evaluator(values, keys).tolist(), "alone": alone, "shards": evaluator.last_shards()}

def search(**options):
    s = hj.Search(x=hj.float(-5.0, 5.0, shape=(20,)), k=hj.int(0, 4))
    target = jnp.linspace(-2.0, 2.0, 20)
    s.run(lambda c: jnp.sum((c["x"] - target) ** 2) + 0.1 * c["k"], "min", generations=5, population_size=10,
          seed=0, mode="jax", quiet=True, **options)
    return {"fs": [float(f) for f in s.history.fs], "best_f": float(s.best_f)}

def section(name, fn):
    try:
        RESULT[name] = fn()
    except Exception as error:
        RESULT[name] = {"error": f"{type(error).__name__}: {error}"}

RESULT = {}
"""

FOUR_DEVICES = COMMON + """
RESULT["devices"] = [d.id for d in jax.devices()]
one = jax.devices()[:1]
section("p8", lambda: evaluate(8))
section("p8_one", lambda: evaluate(8, devices=one))
section("p10", lambda: evaluate(10))
section("p10_one", lambda: evaluate(10, devices=one))
section("p10_chunk3", lambda: evaluate(10, chunk_size=3))
section("p10_chunk3_one", lambda: evaluate(10, chunk_size=3, devices=one))
section("search", lambda: search(devices=jax.devices()))
section("keys10", lambda: evaluate_keys(10))
section("keys10_chunk3", lambda: evaluate_keys(10, chunk_size=3))
section("keys10_batched_chunk3", lambda: evaluate_keys(10, "jax-batched", chunk_size=3))
section("keys10_one", lambda: evaluate_keys(10, devices=one))
print("RESULT " + json.dumps(RESULT), flush=True)
"""

ONE_DEVICE = COMMON + """
RESULT["devices"] = [d.id for d in jax.devices()]
section("search", search)
print("RESULT " + json.dumps(RESULT), flush=True)
"""

TWO_HOSTS = COMMON.replace("import json, sys\n", """import json, sys
import jax
jax.config.update("jax_num_cpu_devices", 2)
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{sys.argv[1]}", num_processes=2,
                           process_id=int(sys.argv[2]), initialization_timeout=30, shutdown_timeout_seconds=10)
""") + """
RESULT.update(process=jax.process_index(), devices=[d.id for d in jax.devices()],
              local=[d.id for d in jax.local_devices()])
section("global", lambda: evaluate(10, devices=jax.devices()))
section("global_chunk3", lambda: evaluate(10, devices=jax.devices(), chunk_size=3))
section("local_one", lambda: evaluate(10, devices=jax.local_devices()[:1]))
section("search", lambda: search(devices=jax.devices(), chunk_size=3))
print("RESULT " + json.dumps(RESULT), flush=True)
jax.distributed.shutdown()
"""


def environment(devices: int | None) -> dict:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": path}
    env.pop("XLA_FLAGS", None)
    if devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def start(code: str, devices: int | None, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=environment(devices),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(processes: list[subprocess.Popen]) -> list[dict]:
    """Each child's RESULT line; all children are killed if one of them times out or fails."""
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=TIMEOUT)
            lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
            assert process.returncode == 0 and lines, f"child failed (rc {process.returncode}):\n{out}\n{err[-3000:]}"
            results.append(json.loads(lines[-1][len("RESULT "):]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


@pytest.fixture(scope="module")
def children():
    """(4-device child, 1-device child), run side by side."""
    return finish([start(FOUR_DEVICES, 4), start(ONE_DEVICE, None)])


@pytest.fixture(scope="module")
def two_hosts():
    """Two processes with 2 CPU devices each, joined by jax.distributed over loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    return finish([start(TWO_HOSTS, None, port, str(i)) for i in range(2)])


def ok(result: dict, name: str) -> dict:
    assert "error" not in result[name], f"{name}: {result[name]['error']}"
    return result[name]


def test_population_is_split_over_four_devices(children):
    four, _ = children
    assert four["devices"] == [0, 1, 2, 3]
    p8 = ok(four, "p8")
    assert p8["shards"] == [[0, 2], [1, 2], [2, 2], [3, 2]]  # each device holds P/4 rows of the output
    assert p8["compiles"] == 1 and p8["same_twice"]  # the second call reuses the executable
    assert p8["values"] == ok(four, "p8_one")["values"]  # equal to a 1-device evaluation
    assert ok(four, "p8_one")["shards"] == [[0, 8]]


def test_padding_never_reaches_the_caller(children):
    four, _ = children
    p10, reference = ok(four, "p10"), ok(four, "p10_one")["values"]
    assert len(p10["values"]) == 10 and p10["values"] == reference
    assert p10["shards"] == [[0, 3], [1, 3], [2, 3], [3, 3]]  # 10 rows padded to 12 on the devices


def test_chunks_give_the_same_values(children):
    four, _ = children
    reference = ok(four, "p10_one")["values"]
    sharded, single = ok(four, "p10_chunk3"), ok(four, "p10_chunk3_one")
    assert sharded["values"] == reference and single["values"] == reference
    assert sharded["shards"] == [[0, 3], [1, 3], [2, 3], [3, 3]]  # 3 chunks of 4 rows (3 rounded up to 4)
    assert single["shards"] == [[0, 12]]  # 4 chunks of 3 rows
    assert sharded["compiles"] == single["compiles"] == 1


def test_keys_follow_their_rows_through_padding_sharding_and_chunks(children):
    four, _ = children
    reference = ok(four, "keys10_one")
    assert reference["shards"] == [[0, 10]]
    for name in ("keys10", "keys10_chunk3", "keys10_batched_chunk3"):
        result = ok(four, name)
        assert result["values"] == reference["values"], name  # bit for bit, as a one-device run
        np.testing.assert_allclose(result["values"], result["alone"], rtol=1e-5)  # row i used keys[i]
        assert [device for device, _ in result["shards"]] == [0, 1, 2, 3]


def test_search_on_four_devices_matches_one_device(children):
    four, one = children
    assert one["devices"] == [0]
    reference = ok(one, "search")
    assert len(reference["fs"]) == 50
    assert ok(four, "search") == reference


def test_two_processes_share_one_global_evaluation(two_hosts):
    first, second = two_hosts
    assert first["devices"] == second["devices"] and len(first["devices"]) == 4
    assert first["local"] != second["local"] and set(first["local"] + second["local"]) == set(first["devices"])
    for result in (first, second):
        reference = ok(result, "local_one")["values"]
        for name in ("global", "global_chunk3"):
            evaluation = ok(result, name)
            assert evaluation["values"] == reference, name  # gathered: every process gets all 10 values
            assert [device for device, _ in evaluation["shards"]] == result["local"]  # this process's half
            assert [rows for _, rows in evaluation["shards"]] == [3, 3]


def test_two_processes_run_the_same_search_as_one_device(two_hosts, children):
    first, second = two_hosts
    reference = ok(children[1], "search")  # a process with one device, no chunks
    assert ok(first, "search") == ok(second, "search") == reference  # 4 global devices, chunks of 4 rows


# ---- in-process checks (one device) -------------------------------------------------------------------
SPACE = Space({"w": hj.float(-1.0, 1.0, shape=(7,)), "k": hj.int(0, 5)})


def loss(candidate):
    return jnp.sum(jnp.sin(3.1 * candidate["w"]) ** 2) + 0.1 * candidate["k"]


@pytest.mark.parametrize("chunk_size", [0, -3, 2.5, "4", True])
def test_chunk_size_is_validated(chunk_size):
    with pytest.raises(ValueError, match="chunk_size must be None .* or a positive int"):
        BatchedEvaluator(loss, SPACE, "jax", chunk_size=chunk_size)


@pytest.mark.parametrize("devices", [[], ["cpu:0"], 3])
def test_devices_are_validated(devices):
    with pytest.raises(ValueError, match="devices must be None or"):
        BatchedEvaluator(loss, SPACE, "jax", devices=devices)


def test_layout_pads_to_whole_chunks_of_whole_device_rows():
    assert (Layout(10, 4, None).padded, Layout(10, 4, None).chunks) == (12, 1)
    assert (Layout(10, 4, 3).chunk, Layout(10, 4, 3).chunks, Layout(10, 4, 3).padded) == (4, 3, 12)
    assert (Layout(10, 1, 3).chunk, Layout(10, 1, 3).chunks) == (3, 4)
    assert (Layout(10, 4, 64).chunk, Layout(8, 1, None).padded) == (12, 8)  # a chunk never exceeds P


def test_chunked_on_one_device_matches_and_check_still_explains():
    z = (jax.random.uniform(jax.random.key(1), (10, 7)), jax.random.uniform(jax.random.key(2), (10,)))
    values = jax.jit(jax.vmap(SPACE.decode))(z)
    reference = BatchedEvaluator(loss, SPACE, "jax")(values)
    for chunk_size in (1, 3, 10, 64):
        evaluator = BatchedEvaluator(loss, SPACE, "jax", chunk_size=chunk_size)
        evaluator.check(values)
        np.testing.assert_array_equal(evaluator(values), reference)
    batched = BatchedEvaluator(lambda p: jax.vmap(lambda w, k: loss({"w": w, "k": k}))(p["w"], p["k"]), SPACE,
                               "jax-batched", chunk_size=4)
    np.testing.assert_array_equal(batched(values), reference)
    with pytest.raises(ValueError, match="a scalar per candidate"):
        BatchedEvaluator(lambda c: c["w"], SPACE, "jax", chunk_size=3).check(values)
