"""Batched hyperparameter search: a whole population of MLP configurations trains in one jitted call.

A small JAX MLP learns scikit-learn's bundled digits (8×8 images, 10 classes). The optimiser is optax's
AdamW wrapped in `optax.inject_hyperparams`, so learning rate, weight decay, b1 and b2 are arrays in the
optimiser state rather than Python constants, and `jax.vmap` can give every row of a population its own.
With `mode="jax"` hopper_jax vmaps `validation_accuracy` over each population and jits it once per run:
one generation of P configurations is one compiled call.

    python examples/batched_hpo.py                      # 4 generations of 16 configurations
    python examples/batched_hpo.py --generations 2 --population 8 --train-steps 50
"""

from __future__ import annotations

import argparse
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import hopper_jax as hj

HIDDEN = 32  # one hidden layer of 32 ReLU units
TRAIN_STEPS = 1000  # ~27 epochs: a poor learning rate or initial scale does not recover in time
BATCH_SIZE = 32
N_TRAIN = 1200  # of 1797 digits; the other 597 are the validation set


class Data(NamedTuple):
    """Training and validation arrays (numpy; features scaled to [0, 1])."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


@functools.cache
def digits() -> Data:
    """The digits dataset, shuffled once (fixed seed) and split into training and validation sets."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = (x[order] / 16.0).astype(np.float32), y[order].astype(np.int32)
    return Data(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:])


def space(lib: Any = hj) -> dict:
    """The search space, declared with `lib` (hopper_jax, or PyHopper: the declarations are the same)."""
    return {
        "learning_rate": lib.float(1e-4, 1.0, log=True),
        "weight_decay": lib.float(1e-6, 1e-1, log=True),
        "b1": lib.float(0.5, 0.99),
        "b2": lib.float(0.9, 0.9999),
        "init_scale": lib.float(0.05, 5.0, log=True),  # × He initialisation
        "label_smoothing": lib.float(0.0, 0.3),
    }


def sample_configs(n: int, seed: int) -> dict[str, np.ndarray]:
    """n configurations drawn from the priors of `space()` (log-uniform or uniform), as arrays of shape (n,)."""
    rng = np.random.default_rng(seed)
    configs = {}
    for name, param in space().items():
        lo, hi = float(param.lb), float(param.ub)
        if param.log:
            configs[name] = np.exp(rng.uniform(np.log(lo), np.log(hi), n)).astype(np.float32)
        else:
            configs[name] = rng.uniform(lo, hi, n).astype(np.float32)
    return configs


@functools.cache
def _unit_weights(n_in: int, n_out: int) -> dict:
    """He-initialised weights from a fixed seed (numpy, outside jit: the same for every configuration)."""
    rng = np.random.default_rng(1)

    def he(fan_in: int, shape: tuple[int, int]) -> np.ndarray:
        return (rng.normal(size=shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    return {"w1": he(n_in, (n_in, HIDDEN)), "bias1": np.zeros(HIDDEN, np.float32),
            "w2": he(HIDDEN, (HIDDEN, n_out)), "bias2": np.zeros(n_out, np.float32)}


@functools.cache
def _batches(train_steps: int, batch_size: int, n_train: int) -> np.ndarray:
    """The fixed minibatch order: (train_steps, batch_size) indices into the training set."""
    return np.random.default_rng(2).integers(0, n_train, (train_steps, batch_size)).astype(np.int32)


def _logits(params: dict, x: jax.Array) -> jax.Array:
    hidden = jax.nn.relu(x @ params["w1"] + params["bias1"])
    return hidden @ params["w2"] + params["bias2"]


def validation_accuracy(config: dict, data: Data | None = None, train_steps: int = TRAIN_STEPS,
                        batch_size: int = BATCH_SIZE) -> jax.Array:
    """Train the MLP with one configuration (a dict of scalars) and return its validation accuracy.

    Pure and jittable; the minibatch order is fixed, so the only randomness is the configuration.
    """
    x_train, y_train, x_val, y_val = map(jnp.asarray, digits() if data is None else data)
    n_classes = 10
    optimizer = optax.inject_hyperparams(optax.adamw)(
        learning_rate=config["learning_rate"], b1=config["b1"], b2=config["b2"],
        weight_decay=config["weight_decay"])
    params = {k: w * config["init_scale"] for k, w in _unit_weights(x_train.shape[1], n_classes).items()}
    batches = _batches(train_steps, batch_size, x_train.shape[0])

    def loss(params, index):
        targets = optax.smooth_labels(jax.nn.one_hot(y_train[index], n_classes), config["label_smoothing"])
        return optax.softmax_cross_entropy(_logits(params, x_train[index]), targets).mean()

    def step(carry, index):
        params, state = carry
        updates, state = optimizer.update(jax.grad(loss)(params, index), state, params)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), batches)
    accuracy = jnp.mean(jnp.argmax(_logits(params, x_val), axis=-1) == y_val)
    return jnp.where(jnp.isfinite(accuracy), accuracy, 0.0)


def population_accuracy(configs: dict, **kwargs: Any) -> jax.Array:
    """Accuracies of a population: `configs` holds arrays of shape (P,); one vmapped training run."""
    return jax.vmap(lambda config: validation_accuracy(config, **kwargs))(configs)


def main(generations: int = 4, population: int = 16, train_steps: int = TRAIN_STEPS, seed: int = 0,
         quiet: bool = False) -> tuple[dict, float, hj.History]:
    """Search the space with `generations × population` configurations; return (best, accuracy, history)."""
    search = hj.Search(space())
    objective = functools.partial(validation_accuracy, train_steps=train_steps)
    best = search.run(objective, "max", generations=generations, population_size=population, mode="jax",
                      seed=seed, quiet=quiet)
    return best, float(search.best_f), search.history


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--train-steps", type=int, default=TRAIN_STEPS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    best, accuracy, history = main(args.generations, args.population, args.train_steps, args.seed, quiet=True)
    print(f"{len(history)} configurations; validation accuracy: worst {min(history.fs):.3f}, "
          f"median {np.median(history.fs):.3f}, best {accuracy:.3f}")
    print("best configuration:", {k: round(float(v), 5) for k, v in best.items()})
