"""The package namespace: PyHopper's names, imported on first use (no JAX import for `import hopper_jax`)."""

import subprocess
import sys

import hopper_jax as hj


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          timeout=120).stdout.strip()


def test_importing_the_package_does_not_import_jax_until_a_name_needs_it():
    out = _run("import sys, hopper_jax as hj; a = 'jax' in sys.modules; hj.float(0, 1); print(a, 'jax' in sys.modules)")
    assert out == "False True"


def test_a_search_imports_optax_and_chex_only_to_trace_its_functions():
    out = _run("import sys, hopper_jax as hj; s = hj.Search(x=hj.float(0, 1), n=hj.int(0, 3)); "
               "a = [m in sys.modules for m in ('optax', 'chex')]; "
               "s.run(lambda p: p['x'], 'max', steps=3, seed=0, quiet=True, mode='python'); "
               "print(a, 'jax' in sys.modules)")
    assert out == "[False, False] True"  # (the run itself may load its functions from the engine cache)


def test_every_public_name_resolves_and_star_import_gives_them():
    for name in hj.__all__:
        assert getattr(hj, name) is not None, name
    assert hj.int is hj.integer and hj.float is hj.real and hj.bool is hj.boolean
    namespace: dict = {}
    exec("from hopper_jax import *", namespace)  # noqa: S102
    assert {"Search", "int", "float", "choice", "should_prune"} <= set(namespace)
    assert "Search" in dir(hj)


def test_an_unknown_name_is_an_attribute_error():
    try:
        hj.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_a_pool_worker_of_a_plain_python_objective_imports_neither_jax_nor_numpy():
    search = hj.Search(x=hj.float(0, 1), n=hj.int(0, 9), c=hj.choice("a", "b"))

    def objective(params):  # starts in a fresh interpreter: each import would cost every worker's start-up
        return float("jax" not in sys.modules) + 2.0 * float("numpy" not in sys.modules)

    search.run(objective, "max", steps=4, n_jobs=2, seed=0, quiet=True)
    assert search.history.fs == [3.0] * 4
