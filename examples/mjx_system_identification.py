"""MJX system identification: fit the masses, damping and friction of a MuJoCo cart-pole to a noisy trajectory.

The model is the MJCF string `MJCF` below: a cart on a rail (slide joint with viscous damping and dry friction,
MuJoCo's `frictionloss`) carrying a hanging pole (hinge joint with viscous damping), pushed by a motor with a
known force F(t) [N] (a sum of sines). Five parameters are unknown: both masses, both damping coefficients and
the cart's dry friction. The data are the cart position x [m] and pole angle θ [rad] of the MJCF compiled with
the true values, simulated by MuJoCo's C library (float64), with Gaussian noise, every DT. The fit minimises the
noise-normalised squared residual (1.0 = the noise floor) of an MJX rollout (`mjx.step` in `lax.scan`, float32)
of one model whose fields are replaced by the candidate's values; hopper_jax vmaps the rollout over each
population (mode='jax'); no gradients are used.

A body's mass scales its inertia too (same shape, another density). F is known in newtons, so the masses are
identified absolutely; the cart's speed varies widely (it reverses, too), so its dry friction (a constant
force against the motion) and viscous damping (proportional to the speed) act differently: a change of any one
parameter by a factor 1.2 costs a clear misfit (tests/examples/test_mjx_system_identification.py).

    python examples/mjx_system_identification.py           # 3 searches × 60 generations × 32, ~25 s on 2 cores
    python examples/mjx_system_identification.py --generations 200 --restarts 5
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

import hopper_jax as hj

with contextlib.redirect_stdout(io.StringIO()):  # mujoco-mjx prints a notice when its optional warp backend is absent
    from mujoco import mjx

DT = 0.01  # s, MuJoCo timestep and sampling interval
STEPS = 250  # samples per experiment (2.5 s)
NOISE = np.asarray([0.005, 0.02])  # measurement noise std of (x [m], θ [rad])
BAD_FIT = 1e6  # loss of a rollout that blew up (non-finite)

# The parameters are filled in by `mjcf`. The fit starts from the model of the initial guess and replaces the
# parameters (`with_parameters`); the slide's frictionloss is non-zero in every model, so MJX builds its friction
# constraint row (which rows exist is fixed by `mjx.put_model`). A few Newton iterations keep the rollout short;
# MuJoCo's C library, which makes the data, runs the same options.
MJCF = """
<mujoco model="cart_pole">
  <option timestep="{dt}" solver="Newton" iterations="4" ls_iterations="4">
    <flag contact="disable"/>
  </option>
  <worldbody>
    <body name="cart">
      <joint name="slide" type="slide" axis="1 0 0" damping="{slide_damping}" frictionloss="{slide_friction}"/>
      <geom type="box" size="0.2 0.1 0.05" mass="{cart_mass}"/>
      <body name="pole">
        <joint name="hinge" type="hinge" axis="0 1 0" damping="{hinge_damping}"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.6" size="0.03" mass="{pole_mass}"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor joint="slide" gear="1"/>
  </actuator>
</mujoco>
"""
CART, POLE = 1, 2  # body ids (0 is the world)
SLIDE, HINGE = 0, 1  # dof ids


class Physical(NamedTuple):
    """A parameter's true value and search range (searched on a log scale) [kg, N·s/m, N·m·s/rad, N]."""

    true: float
    lower: float
    upper: float


PARAMETERS = {
    "cart_mass": Physical(1.5, 0.1, 5.0),  # kg
    "pole_mass": Physical(0.3, 0.02, 2.0),  # kg
    "slide_damping": Physical(0.8, 0.01, 10.0),  # N·s/m, viscous friction of the cart
    "hinge_damping": Physical(0.03, 1e-4, 0.1),  # N·m·s/rad, viscous friction of the pole's pivot
    "slide_friction": Physical(0.4, 0.01, 5.0),  # N, dry (Coulomb) friction of the cart: MuJoCo's frictionloss
}
NAMES = tuple(PARAMETERS)
TRUE = {k: p.true for k, p in PARAMETERS.items()}


def mjcf(p: dict) -> str:
    """The MJCF text of the cart-pole with parameters `p` (floats keyed by NAMES)."""
    return MJCF.format(dt=DT, **{k: f"{float(p[k]):.9g}" for k in NAMES})


def nominal_model() -> mjx.Model:
    """The MJX model of the initial guess (the centre of every range), on the JAX device."""
    return mjx.put_model(mujoco.MjModel.from_xml_string(mjcf(initial_guess())))


def with_parameters(model: mjx.Model, p: dict) -> mjx.Model:
    """`model` with the five parameters of `p` (scalars, traced or not); inertias scale with their body's mass."""
    mass = model.body_mass.at[CART].set(p["cart_mass"]).at[POLE].set(p["pole_mass"])
    inertia = model.body_inertia * (mass / jnp.where(model.body_mass > 0, model.body_mass, 1.0))[:, None]
    damping = model.dof_damping.at[SLIDE].set(p["slide_damping"]).at[HINGE].set(p["hinge_damping"])
    friction = model.dof_frictionloss.at[SLIDE].set(p["slide_friction"])
    return model.replace(body_mass=mass, body_inertia=inertia, dof_damping=damping, dof_frictionloss=friction)


def simulate(model: mjx.Model, p: dict, forces: jax.Array) -> jax.Array:
    """MJX: (STEPS, 2) cart position x [m] and pole angle θ [rad] after each step of DT from rest, pole hanging;
    `forces` (STEPS,) [N] is the motor force, held for one step each."""
    model = with_parameters(model, p)

    def step(data: mjx.Data, force: jax.Array) -> tuple[mjx.Data, jax.Array]:
        data = mjx.step(model, data.replace(ctrl=force[None]))
        return data, data.qpos

    return jax.lax.scan(step, mjx.make_data(model), forces)[1]


def record(p: dict, forces: np.ndarray) -> np.ndarray:
    """MuJoCo's C simulator (float64) on the model compiled from `mjcf(p)`: the same (STEPS, 2) as `simulate`.
    It makes the data (no JAX compile) and scores single parameter sets."""
    model = mujoco.MjModel.from_xml_string(mjcf(p))
    data = mujoco.MjData(model)
    trajectory = np.empty((len(forces), model.nq))
    for t, force in enumerate(np.asarray(forces, np.float64)):
        data.ctrl[0] = force
        mujoco.mj_step(model, data)
        trajectory[t] = data.qpos
    return trajectory


def excitation(seed: int) -> np.ndarray:
    """(STEPS,) motor force [N]: four sines of 0.3–2 Hz with random phases, about ±6 N."""
    rng = np.random.default_rng(seed)
    t = np.arange(STEPS) * DT
    freqs, phases = np.geomspace(0.3, 2.0, 4), rng.uniform(0, 2 * np.pi, 4)
    return (2.0 * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None]).sum(0)).astype(np.float32)


class Experiment(NamedTuple):
    """Input, clean and noisy measured trajectories of one experiment."""

    forces: np.ndarray  # (STEPS,) N
    clean: np.ndarray  # (STEPS, 2) true x [m], θ [rad]
    measured: np.ndarray  # (STEPS, 2) with noise NOISE, float32


def experiment(seed: int) -> Experiment:
    """Record the true system under the excitation of `seed` and add measurement noise."""
    forces = excitation(seed)
    clean = record(TRUE, forces)
    noise = np.random.default_rng(seed + 1000).normal(size=clean.shape) * NOISE
    return Experiment(forces, clean, (clean + noise).astype(np.float32))


def misfit(trajectory: jax.Array | np.ndarray, data: Experiment) -> jax.Array:
    """Mean squared residual of a (STEPS, 2) trajectory over both channels in units of the noise variance (≈1 at
    the true values); BAD_FIT if it is not finite."""
    loss = jnp.mean(((trajectory - data.measured) / NOISE) ** 2)
    return jnp.where(jnp.isfinite(loss), loss, BAD_FIT)


def fit_loss(model: mjx.Model, p: dict, data: Experiment) -> jax.Array:
    """The objective: `misfit` of the MJX rollout of `model` with parameters `p` (a JAX function of `p`)."""
    return misfit(simulate(model, p, data.forces), data)


def trajectory_rmse(p: dict, data: Experiment) -> tuple[float, float]:
    """RMS error of the trajectory of `p` against the clean one (C simulator): (x [mm], θ [deg])."""
    rmse = np.sqrt(np.mean((record(p, data.forces) - data.clean) ** 2, axis=0))
    return float(rmse[0] * 1e3), float(np.degrees(rmse[1]))


def relative_errors(p: dict) -> dict[str, float]:
    """|estimate / true - 1| per parameter (0.1 = 10 % off)."""
    return {k: abs(float(p[k]) / TRUE[k] - 1.0) for k in NAMES}


def parameter_error(p: dict) -> float:
    """Mean relative error over the five parameters."""
    return float(np.mean(list(relative_errors(p).values())))


def search_space() -> dict:
    """hopper_jax declarations: every parameter is a positive scale, searched log-uniformly in its range."""
    return {k: hj.float(p.lower, p.upper, log=True) for k, p in PARAMETERS.items()}


def initial_guess() -> dict[str, float]:
    """The geometric centre of each range: the starting point errors are compared with (hopper_jax's best before
    it has evaluated anything, `hj.Search(search_space()).best`, is this point too)."""
    return {k: float(np.sqrt(p.lower * p.upper)) for k, p in PARAMETERS.items()}


def objective(model: mjx.Model, data: Experiment) -> Callable[[dict], jax.Array]:
    """`fit_loss` of `model` on `data` as a function of the candidate alone. Pass one such function to every
    search of a problem: hopper_jax then compiles it (about 10 s on 2 cores) only once."""
    return functools.partial(fit_loss, model, data=data)


def fit(loss: Callable[[dict], jax.Array], generations: int, population: int, seed: int) -> tuple[float, dict]:
    """One hopper_jax search (mode='jax') minimising `loss`: (best fit loss, best parameters)."""
    search = hj.Search(search_space())
    best = search.run(loss, "min", generations=generations, population_size=population, mode="jax", seed=seed,
                      quiet=True)
    return float(search.best_f), best


def report(result: dict, best: dict) -> None:
    """Print the fit loss, the parameter errors and the wall time of `identify`'s result."""
    print(f"fit loss (1 = noise floor) {result['initial_loss']:.3g} -> {result['loss']:.3g}; mean relative "
          f"parameter error {result['initial_param_error']:.3f} -> {result['param_error']:.3f}; "
          f"wall {result['seconds']:.1f} s")
    x0, theta0 = result["initial_validation_rmse"]
    x1, theta1 = result["validation_rmse"]
    print(f"held-out experiment, trajectory RMSE: x {x0:.1f} -> {x1:.1f} mm, θ {theta0:.2f} -> {theta1:.2f}°")
    for k, error in relative_errors(best).items():
        print(f"  {k:15s} true {TRUE[k]:<6.4g} estimate {float(best[k]):<8.4g} relative error {error:.3f}")


def identify(generations: int = 60, population: int = 32, seed: int = 0, restarts: int = 3,
             quiet: bool = False) -> dict:
    """Fit the parameters with `restarts` searches (seeds seed, seed + 1, ...) and keep the lowest fit loss.

    Returns fit loss and mean relative parameter error of the initial guess and of the fit, the trajectory RMSE
    on a held-out experiment (another force signal) of both, and the wall time [s] of the searches (compilation
    included). The fit has local optima (the cart's friction taken as all dry or all viscous) that catch about
    half the searches at this budget; independent restarts are the cheap cure (they share one compilation).
    """
    model, data, validation = nominal_model(), experiment(0), experiment(1)
    start = time.perf_counter()
    loss = objective(model, data)
    fits = [fit(loss, generations, population, seed + r) for r in range(restarts)]
    seconds = time.perf_counter() - start
    best_loss, best = min(fits, key=lambda f: f[0])
    guess = initial_guess()
    result = {"initial_loss": float(misfit(record(guess, data.forces), data)), "loss": best_loss,
              "initial_param_error": parameter_error(guess), "param_error": parameter_error(best),
              "initial_validation_rmse": trajectory_rmse(guess, validation),
              "validation_rmse": trajectory_rmse(best, validation), "seconds": seconds, "best": best}
    if not quiet:
        report(result, best)
    return result


def main(argv: list[str] | None = None) -> dict:
    """Command line: `identify` with the flags of `argv` (None: sys.argv)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=60, help="generations per search")
    parser.add_argument("--population", type=int, default=32, help="candidates per generation")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first search")
    parser.add_argument("--restarts", type=int, default=3, help="independent searches; the best fit is kept")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    return identify(args.generations, args.population, args.seed, args.restarts, args.quiet)


if __name__ == "__main__":
    main()
