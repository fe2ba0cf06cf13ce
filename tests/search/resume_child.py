"""A search that may be SIGKILLed at any moment and rerun until it finishes (see test_checkpointing.py).

Usage: python resume_child.py MODE CHECKPOINT_DIR RESULT_JSON [SELF_KILL [PACE]]
MODE: 'jax' (JAX mode, population 8) or 'pool' (Python mode, 2 worker processes) or 'python'.
SELF_KILL: a probability p, and each snapshot write arms, with probability p, a SIGKILL of this process
0-40 ms later (a snapshot takes about 100 ms here), so some kills land in the middle of a checkpoint write;
or '@k': the k-th snapshot write of this process arms it (k = 1: the snapshot before the run starts).
PACE: a factor on the waits of `PACE` (default 1: the run outlasts 20 kill windows; 0.25 outlasts 3).
"""

import json
import os
import random
import signal
import sys
import threading
import time

import jax.numpy as jnp
import numpy as np

import hopper_jax as hj
from hopper_jax.persistence.store import CheckpointStore

STEPS = {"jax": 8 * 100, "pool": 80, "python": 150}
#: Seconds a killed child waits after each generation (JAX mode) or evaluation (pool), so that its run (over
#: 10 s) outlasts 20 kill windows (0.05-0.6 s, 6.5 s on average) on any machine: JAX-mode generations alone
#: take only ~50 ms here, and with hopper_jax's functions loaded from the engine cache instead of compiled,
#: a pool child's 80 evaluations take about 3 s. (mode: (after each generation, after each evaluation))
PACE = {"jax": (0.1, 0.0), "pool": (0.0, 0.15)}


def space():
    return hj.Search(w=hj.float(-1, 1, shape=(6,)), n=hj.int(0, 20), act=hj.choice("relu", "tanh", "gelu"),
                     lr=hj.float(1e-4, 1e-1, log=True))


def jax_loss(p):
    return jnp.sum((p["w"] - 0.25) ** 2) + (p["n"] - 7) ** 2 / 100 + jnp.abs(jnp.log10(p["lr"]) + 2)


def python_loss(p):
    time.sleep(0.004)
    return float(np.sum((p["w"] - 0.25) ** 2) + (p["n"] - 7) ** 2 / 100 + abs(np.log10(p["lr"]) + 2)
                 + (p["act"] != "tanh"))


class Ready(hj.Callback):
    def __init__(self, generation_pace: float = 0.0, evaluation_pace: float = 0.0):
        self.generation_pace, self.evaluation_pace = generation_pace, evaluation_pace

    def on_search_start(self, search):
        print("ready", flush=True)  # compiled (and, for a pool, workers started): kill from now on

    def on_generation_end(self, values, fs, infos):
        time.sleep(self.generation_pace)  # an observer only: the results do not depend on it

    def on_evaluate_end(self, candidate, f, info):
        time.sleep(self.evaluation_pace)


def arm_self_kill(self_kill: str) -> None:
    """Self-kills during snapshot writes: `self_kill` is a probability per write, or '@k' (the k-th write)."""
    save = CheckpointStore.save
    rng = random.Random(os.getpid())
    writes = [0]

    def dies(self, *args):
        writes[0] += 1
        return writes[0] == int(self_kill[1:]) if self_kill.startswith("@") else rng.random() < float(self_kill)

    def save_and_maybe_die(self, *args):
        if dies(self, *args):
            threading.Timer(rng.uniform(0, 0.04), os.kill, (os.getpid(), signal.SIGKILL)).start()
        return save(self, *args)

    CheckpointStore.save = save_and_maybe_die


def main(mode: str, path: str | None, result: str, self_kill: str = "", pace: float = 1.0) -> None:
    if self_kill and self_kill != "0":
        arm_self_kill(self_kill)
    search = space()
    kwargs = dict(steps=STEPS[mode], seed=3, quiet=True)
    if path is not None:
        kwargs.update(checkpoint_path=path, checkpoint_interval=0.0)
    waits = [pace * seconds for seconds in PACE.get(mode, (0.0, 0.0))]
    kwargs["callbacks"] = [Ready(*waits) if path is not None else Ready()]
    if mode == "jax":
        search.run(jax_loss, "min", mode="jax", population_size=8, **kwargs)
    else:
        search.run(python_loss, "min", n_jobs=2 if mode == "pool" else 1, **kwargs)
    records = search.history.records
    with open(result, "w") as file:
        json.dump({"best_f": search.best_f, "best": repr(search.best), "fs": search.history.fs,
                   "statuses": [r["status"] for r in records], "types": [int(r["type"]) for r in records],
                   "candidates": [repr(c) for c in search.history.candidates]}, file)


if __name__ == "__main__":
    main(sys.argv[1], None if sys.argv[2] == "-" else sys.argv[2], sys.argv[3],
         sys.argv[4] if len(sys.argv) > 4 else "", float(sys.argv[5]) if len(sys.argv) > 5 else 1.0)
