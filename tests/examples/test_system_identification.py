"""examples/system_identification.py: the model fits its own data at the noise floor, and the search gets there."""

import importlib

import numpy as np

import hopper_jax as hj

sysid = importlib.import_module("examples.system_identification")


def test_the_true_parameters_fit_at_the_noise_floor_and_wrong_ones_do_not():
    data = sysid.experiment(0)
    assert 0.8 < float(sysid.fit_loss(sysid.TRUE, data)) < 1.2  # residuals are the noise: about 1 per sample
    for name in sysid.NAMES:  # every parameter changes the trajectory: a factor 1.5 off costs a clear misfit
        assert float(sysid.fit_loss({**sysid.TRUE, name: 1.5 * sysid.TRUE[name]}, data)) > 1.5, name
    assert sysid.parameter_error(sysid.TRUE) == 0.0
    assert max(sysid.trajectory_rmse(sysid.TRUE, sysid.experiment(1))) < 1e-3  # mm, deg: float32 round-off only


def test_search_fits_the_data_and_predicts_a_held_out_experiment():
    result = sysid.main(quiet=True)  # the example's budget: the best of 3 searches of 200 generations of 64
    assert result["loss"] < 0.01 * result["initial_loss"]
    # One search in about three ends in a local optimum (all Coulomb friction) at this budget; the best of three
    # restarts reaches the noise floor, and then the parameters themselves are identified.
    assert result["loss"] < 1.5  # 1.0 = the noise floor
    assert result["param_error"] < 0.25 * result["initial_param_error"]
    initial_rmse = sysid.trajectory_rmse(dict(hj.Search(sysid.search_space()).best), sysid.experiment(1))
    assert np.all(np.asarray(result["validation_rmse"]) < 0.2 * np.asarray(initial_rmse))
