"""Faults a search survives: SIGKILLs, damaged checkpoint files, files planted by someone else, a second writer.

Not a speed benchmark: it counts. Each kill restarts the search from its checkpoint; the finished run must equal
an uninterrupted one (best, every objective value, status and candidate). Each damage case breaks a finished
checkpoint in one way and records what `load` did: recovered (with the warning it gave) or refused (with the
error), and whether any file was deleted. Each attack plants something and checks that nothing of it ran.

    python benchmarks/bench_faults.py --quick      # 2 kills per mode
    python benchmarks/bench_faults.py              # 30 kills per mode: writes benchmarks/results/faults.md
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "search"))

import resume_child  # noqa: E402  (the test suite's resumable child: one definition of the killed search)

import hopper_jax as hj  # noqa: E402
from benchmarks import report  # noqa: E402
from benchmarks.machine import markdown_table  # noqa: E402
from hopper_jax.persistence import CheckpointLocked, CheckpointStore  # noqa: E402
from hopper_jax.persistence.store import HEADER, JOURNAL, STATE  # noqa: E402

CHILD = pathlib.Path(resume_child.__file__)
MODES = ("pool", "jax")


def killed_until_done(mode: str, kills: int, directory: pathlib.Path, seed: int) -> dict:
    """SIGKILL a checkpointed run `kills` times at random moments (some inside snapshot writes), then let it
    finish; compare with an uninterrupted run."""
    expected, result, path = directory / "expected.json", directory / "result.json", directory / "ck"
    resume_child.main(mode, None, str(expected))
    rng, done, in_save, started = random.Random(seed), 0, 0, time.perf_counter()
    while True:
        child = subprocess.Popen([sys.executable, str(CHILD), mode, str(path), str(result), "0.1"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if child.stdout.readline().strip() != "ready":
            child.wait()
            in_save += child.returncode == -9
        else:
            try:
                child.wait(timeout=rng.uniform(0.05, 0.6) if done < kills else 600)
                in_save += child.returncode == -9
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        stderr = child.stderr.read()
        if child.returncode not in (0, -9):
            return {"kills": done, "in_save": in_save, "identical": False, "error": stderr[-500:]}
        if child.returncode == 0:
            break
        done += 1
    identical = json.loads(result.read_text()) == json.loads(expected.read_text())
    return {"kills": done, "in_save": in_save, "identical": identical, "seconds": time.perf_counter() - started}


def finished_checkpoint(directory: pathlib.Path) -> tuple[pathlib.Path, hj.Search]:
    search = resume_child.space()
    path = directory / "finished"
    search.run(resume_child.python_loss, "min", steps=60, seed=3, quiet=True, checkpoint_path=path,
               checkpoint_interval=0.0)
    return path, search


def _garble(path):
    lines = (path / JOURNAL).read_text().splitlines()
    lines[10], lines[20] = "\x00 not json", lines[20][: len(lines[20]) // 2]
    (path / JOURNAL).write_text("\n".join(lines) + "\n")


def _truncate(path):
    lines = (path / JOURNAL).read_text().splitlines()
    (path / JOURNAL).write_text("\n".join(lines[:25]) + "\n")


def _newest_snapshot(path):
    return max((path / STATE).iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1)


def _damage_snapshot(path):
    for file in _newest_snapshot(path).rglob("*"):
        if file.is_file():
            file.write_bytes(b"\x00" * 16)


def _damage_header_no_snapshot(path):
    shutil.rmtree(path / STATE)
    (path / HEADER).write_text("{ torn")


DAMAGE = {
    "two garbled journal lines": _garble,
    "journal truncated to 25 lines": _truncate,
    "journal deleted": lambda path: (path / JOURNAL).unlink(),
    "newest snapshot overwritten with zeros": _damage_snapshot,
    "search.json deleted": lambda path: (path / HEADER).unlink(),
    "search.json torn, no snapshot left": _damage_header_no_snapshot,
}


def damage_case(name: str, source: pathlib.Path, reference: hj.Search, directory: pathlib.Path) -> list[str]:
    path = directory / name.replace(" ", "_").replace(",", "")
    shutil.copytree(source, path)
    (path / "lock").unlink(missing_ok=True)
    DAMAGE[name](path)
    before = sorted(str(p.relative_to(path)) for p in path.rglob("*"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loaded = resume_child.space().load(path)
            outcome = "recovered"
            detail = f"{len(loaded.history.records)}/{len(reference.history.records)} records, best " + (
                "kept" if loaded.best_f == reference.best_f else f"{loaded.best_f} (was {reference.best_f})")
        except Exception as error:  # noqa: BLE001 - the report names whatever was raised
            outcome, detail = "refused", f"{type(error).__name__}: {str(error)[:160]}"
    after = {str(p.relative_to(path)) for p in path.rglob("*")}
    deleted = [p for p in before if p not in after and p != "lock"]
    said = "; ".join(str(w.message)[:160] for w in caught if "hopper_jax" in str(w.message)) or "(no warning)"
    return [name, outcome, detail, said, ", ".join(deleted) or "none"]


class Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def attacks(source: pathlib.Path, directory: pathlib.Path) -> list[list[str]]:
    import base64

    import cloudpickle

    rows = []
    marker = directory / "code_ran"
    path = directory / "planted"
    shutil.copytree(source, path)
    (path / "lock").unlink(missing_ok=True)
    lines = (path / JOURNAL).read_text().splitlines()
    record = json.loads(lines[5])
    blob = base64.b64encode(cloudpickle.dumps(Planted(str(marker)))).decode()
    record["candidate"] = {"act": {"__pickle__": blob}}
    lines[5] = json.dumps(record)
    (path / JOURNAL).write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for how, call in (("Search.load", lambda: resume_child.space().load(path)),
                          ("run(checkpoint_path=...)", lambda: resume_child.space().run(
                              resume_child.python_loss, "min", steps=80, seed=3, quiet=True, checkpoint_path=path))):
            try:
                call()
                result = "read as damaged data"
            except Exception as error:  # noqa: BLE001
                result = f"refused ({type(error).__name__})"
            rows.append([f"a pickle planted in the journal, read by {how}", result,
                         "code ran" if marker.exists() else "nothing ran"])
    rows += cache_attacks(directory)
    holder = CheckpointStore(directory / "shared")
    holder.lock()
    try:
        resume_child.space().run(resume_child.python_loss, "min", steps=5, quiet=True,
                                 checkpoint_path=directory / "shared")
        rows.append(["a second writer on a checkpoint in use", "accepted", "two writers"])
    except CheckpointLocked as error:
        rows.append(["a second writer on a checkpoint in use", "refused (CheckpointLocked)", str(error)[:120]])
    finally:
        holder.close()
    return rows


def cache_attacks(directory: pathlib.Path) -> list[list[str]]:
    """Files planted in the executable cache: a pickle under an entry's name, another key's entry renamed into
    place, a link at an entry's name, and a cache directory others can write."""
    import pickle

    import jax
    import numpy as np

    from hopper_jax.persistence import executables

    rows, saved = [], list(executables._directory)
    marker, victim = directory / "cache_code_ran", directory / "victim.txt"
    victim.write_text("precious")
    cache = directory / "cache"
    cache.mkdir(mode=0o700)
    executables.set_cache_dir(cache)
    leaves, tree = jax.tree.flatten((np.float32(1),))

    def entry(function):
        return cache / f"{function._name}-{function._key(tree, leaves)[:32]}.jaxexe"

    try:
        planted = executables.PersistentFunction(lambda x: x + 1, "planted", "space", lambda: None)
        entry(planted).write_bytes(pickle.dumps(Planted(str(marker))))
        ok = float(planted(np.float32(1))) == 2.0
        rows.append(["a pickle planted under a cache entry's name", "ignored" if ok else "wrong value",
                     "code ran" if marker.exists() else "nothing ran"])
        first = executables.PersistentFunction(lambda x: x + 1, "f", "space A", lambda: None)
        first(np.float32(1))
        other = executables.PersistentFunction(lambda x: x - 1, "f", "space B", lambda: None)
        os.replace(entry(first), entry(other))
        value = float(other(np.float32(1)))
        rows.append(["another space's executable renamed into place", "refused (header names another key)"
                     if value == 0.0 else "LOADED", f"returned {value:g} (expected 0)"])
        linked = executables.PersistentFunction(lambda x: x * 5, "h", "space", lambda: None)
        entry(linked).symlink_to(victim)
        linked(np.float32(1))
        rows.append(["a link planted at an entry's name", "not followed" if victim.read_text() == "precious"
                     else "FOLLOWED", "target unchanged" if victim.read_text() == "precious" else "target overwritten"])
        shared = directory / "shared_cache"
        shared.mkdir()
        os.chmod(shared, 0o777)
        executables.set_cache_dir(shared)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            executables.PersistentFunction(lambda x: x * 7, "g", "space", lambda: None)(np.float32(1))
        refused = executables.cache_dir() is None and any("not using" in str(w.message) for w in caught)
        rows.append(["a cache directory others can write (mode 777)", "refused, cache off" if refused else "USED",
                     f"{len(list(shared.iterdir()))} files written there"])
    finally:
        executables._directory[:] = saved
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    report.add_output_arguments(parser, "faults", "2 kills per mode")
    args = parser.parse_args(argv)
    kills = 2 if args.quick else 30
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        kill_rows = []
        for index, mode in enumerate(MODES):
            (scratch / mode).mkdir()
            out = killed_until_done(mode, kills, scratch / mode, seed=index)
            kill_rows.append([mode, str(out["kills"]), str(out["in_save"]),
                              "yes" if out["identical"] else f"**NO** {out.get('error', '')}",
                              f"{out.get('seconds', 0):.0f}"])
        source, reference = finished_checkpoint(scratch)
        damage_rows = [damage_case(name, source, reference, scratch) for name in DAMAGE]
        attack_rows = attacks(source, scratch)
    text = report.assemble(
        "### SIGKILLed runs resumed from their checkpoints",
        markdown_table(["mode", "kills", "of which inside a snapshot write", "finished run identical to an "
                        "uninterrupted one", "wall s"], kill_rows),
        "### A finished checkpoint (60 Python-mode steps) damaged, then loaded",
        markdown_table(["damage", "outcome", "what was restored", "what the user was told", "files deleted"],
                       damage_rows),
        "### Files planted by someone else",
        markdown_table(["attack", "outcome", "effect"], attack_rows),
        "Notes: the killed search is `tests/search/resume_child.py` (the test suite's; pool: "
        "n_jobs=2, jax: population 8), checkpointing after every evaluation or generation, and arming, at each "
        "snapshot write, a self-kill 0–40 ms later with probability 0.1. Kills come 0.05–0.6 s after the child "
        "reports it is ready.",
        total_s=time.perf_counter() - started)
    report.emit(text, report.output_path(args))


if __name__ == "__main__":
    main()
