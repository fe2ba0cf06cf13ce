"""examples/system_identification.py: the model fits its own data at the noise floor, and the search gets there."""

import importlib

import numpy as np

sysid = importlib.import_module("examples.system_identification")


def test_the_true_parameters_fit_at_the_noise_floor_and_wrong_ones_do_not():
    data = sysid.experiment(0)
    assert 0.8 < float(sysid.fit_loss(sysid.TRUE, data)) < 1.2  # residuals are the noise: about 1 per sample
    for name in sysid.NAMES:  # every parameter changes the trajectory: a factor 1.5 off costs a clear misfit
        assert float(sysid.fit_loss({**sysid.TRUE, name: 1.5 * sysid.TRUE[name]}, data)) > 1.5, name
    assert sysid.parameter_error(sysid.TRUE) == 0.0
    assert max(sysid.trajectory_rmse(sysid.TRUE, sysid.experiment(1))) < 1e-3  # mm, deg: float32 round-off only


def test_search_reduces_fit_loss_and_parameter_error():
    result = sysid.main(generations=40, population=32, quiet=True)
    assert result["loss"] < 0.01 * result["initial_loss"]
    assert result["param_error"] < 0.75 * result["initial_param_error"]
    assert np.all(np.isfinite(result["validation_rmse"]))
