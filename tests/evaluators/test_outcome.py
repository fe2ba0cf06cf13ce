"""Classifying what an objective returned."""

import jax.numpy as jnp
import numpy as np
import pytest

from hopper_jax.evaluators import FAILED, OK, PRUNED, PruneEvaluation, PythonEvaluator, as_value


@pytest.mark.parametrize("value", [1, 2.5, np.float32(3), np.int64(4), np.array(5.0), jnp.float32(6), float("inf"),
                                   float("-inf"), np.float32(-np.inf)])
def test_real_scalars_are_values(value):
    number, problem = as_value(value)
    assert problem is None and number == float(np.asarray(value))


@pytest.mark.parametrize("value, problem", [(None, "None"), (float("nan"), "NaN"), (np.float32(np.nan), "NaN"),
                                            (np.zeros(2), "shape"), ("a", "str"), (True, "bool"),
                                            (np.array("x"), "scalar"), (np.True_, "bool"),
                                            (jnp.bool_(False), "bool")])
def test_unusable_values_explain_themselves(value, problem):
    number, message = as_value(value)
    assert number is None and problem in message


def test_python_evaluator_outcomes():
    def objective(p, offset=0):
        if p == "prune":
            raise PruneEvaluation()
        if p == "fail":
            raise KeyError("k")
        if p == "gen":
            return (x for x in (1.0, 2.0, 3.0 + offset))
        return p + offset

    evaluate = PythonEvaluator(objective, {"offset": 1})
    assert evaluate(1).value == 2 and evaluate(1).status == OK
    assert evaluate("gen").value == 4.0
    assert evaluate("prune").status == PRUNED
    failed = evaluate("fail")
    assert failed.status == FAILED and isinstance(failed.error, KeyError) and "KeyError" in failed.problem
    with pytest.raises(ValueError, match="callable"):
        PythonEvaluator(3)
