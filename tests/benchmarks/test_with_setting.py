"""benchmarks/with_setting.py: module settings changed before a benchmark script's main runs."""

import subprocess
import sys

import pytest
from support import ROOT

from benchmarks import with_setting
from hopper_jax.core import covariance


def test_apply_sets_a_literal_and_returns_the_previous_value(monkeypatch):
    monkeypatch.setattr(covariance, "DENSE_BY_CORRELATION", True)
    name, previous = with_setting.apply("hopper_jax.core.covariance.DENSE_BY_CORRELATION=False")
    assert (name, previous) == ("hopper_jax.core.covariance.DENSE_BY_CORRELATION", True)
    assert covariance.DENSE_BY_CORRELATION is False


@pytest.mark.parametrize("assignment, message", [
    ("DENSE_BY_CORRELATION", "expected module.NAME=value"),
    ("hopper_jax.core.covariance.DENSE_BY_CORRELATION=off", "is not a Python literal"),
    ("hopper_jax.core.covariance.NO_SUCH_SETTING=1", "has no setting 'NO_SUCH_SETTING'"),
])
def test_a_bad_assignment_says_what_to_write(assignment, message):
    with pytest.raises(SystemExit, match=message):
        with_setting.apply(assignment)


def test_the_script_runs_with_the_setting():
    """bench_shape's notes print the JAX-mode population, so the changed setting shows in its report."""
    result = subprocess.run([sys.executable, "benchmarks/with_setting.py", "benchmarks.optimizers.HJ_POPULATION=8",
                             "bench_shape", "--quick", "--out", "-"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "JAX mode: population 8)" in result.stdout and "| rosenbrock_rot | 2 | jax |" in result.stdout
