"""Dict-based hyperparameter search in Python mode, PyHopper style.

Tunes a small NumPy logistic-regression trainer (learning rate on a log scale, epochs, L2 penalty, batch
size as a power of two, optimiser choice) on a synthetic classification task and prints the best
configuration. Any Python function of a dict works the same way: PyTorch, TensorFlow, scikit-learn.

    python examples/quickstart.py            # 150 trials
    python examples/quickstart.py --steps 30
"""

from __future__ import annotations

import argparse

import numpy as np

import hopper_jax as hj  # or: import hopper_jax as pyhopper

RNG = np.random.default_rng(0)
X = RNG.normal(size=(600, 20))
W_TRUE = RNG.normal(size=20) * (RNG.random(20) < 0.3)
Y = (X @ W_TRUE + 0.5 * RNG.normal(size=600) > 0).astype(float)
X_TRAIN, Y_TRAIN, X_VAL, Y_VAL = X[:400], Y[:400], X[400:], Y[400:]


def validation_accuracy(params: dict) -> float:
    """Train logistic regression with the given hyperparameters; return validation accuracy."""
    rng = np.random.default_rng(0)
    w, velocity = np.zeros(20), np.zeros(20)
    momentum = 0.9 if params["optimizer"] == "momentum" else 0.0
    for _ in range(params["epochs"]):
        order = rng.permutation(len(X_TRAIN))
        for start in range(0, len(order), params["batch_size"]):
            batch = order[start:start + params["batch_size"]]
            p = 1 / (1 + np.exp(-X_TRAIN[batch] @ w))
            grad = X_TRAIN[batch].T @ (p - Y_TRAIN[batch]) / len(batch) + params["l2"] * w
            velocity = momentum * velocity - params["lr"] * grad
            w = w + velocity
    return float(np.mean(((X_VAL @ w) > 0) == Y_VAL))


def main(steps: int = 150, seed: int = 0, quiet: bool = False) -> tuple[dict, float]:
    search = hj.Search(
        lr=hj.float(1e-4, 1.0, "0.1g"),  # log scale, one significant digit
        epochs=hj.int(1, 20),
        l2=hj.float(1e-6, 1e-1, log=True),
        batch_size=hj.int(8, 256, power_of=2),
        optimizer=hj.choice("sgd", "momentum"),
    )
    search += {"lr": 0.01, "optimizer": "momentum"}  # a manual guess, merged with the defaults
    best = search.run(validation_accuracy, "max", steps=steps, seed=seed, quiet=quiet)
    return best, search.best_f


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    best, best_f = main(args.steps, args.seed)
    print(f"best validation accuracy {best_f:.3f} with {best}")
