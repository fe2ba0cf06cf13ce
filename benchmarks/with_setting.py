"""Run a benchmark script with module settings changed: the ablations of `benchmarks/RESULTS.md` on any script.

    python benchmarks/with_setting.py hopper_jax.core.covariance.DENSE_BY_CORRELATION=False bench_sysid --seeds 5

Each `module.NAME=value` (a Python literal) is set before the script's `main(argv)` runs with the remaining
arguments. The engine caches' keys do not see module settings, so the cache on disk is turned off for the run
(as `bench_shape.py` does for its switches).
"""

from __future__ import annotations

import ast
import importlib
import os
import sys


def apply(assignment: str) -> tuple[str, object]:
    """Set `module.NAME=value`; returns (the setting's full name, its previous value)."""
    target, sep, text = assignment.partition("=")
    module_name, _, name = target.rpartition(".")
    if not sep or not module_name or not name:
        raise SystemExit(f"expected module.NAME=value, e.g. hopper_jax.core.step_size.RESTARTS=False; "
                         f"got {assignment!r}")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise SystemExit(f"{target}: {text!r} is not a Python literal (write 'text' in quotes for a string)") from None
    module = importlib.import_module(module_name)
    if not hasattr(module, name):
        raise SystemExit(f"{module_name} has no setting {name!r}")
    previous = getattr(module, name)
    setattr(module, name, value)
    return target, previous


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    settings = [a for a in argv if "=" in a and not a.startswith("-")]
    rest = argv[len(settings):]
    if not settings or not rest or settings != argv[:len(settings)]:
        raise SystemExit(__doc__)
    os.environ["HOPPER_JAX_CACHE_DIR"] = "off"  # before hopper_jax is imported
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for assignment in settings:
        apply(assignment)
    script = rest[0].removesuffix(".py").removeprefix("benchmarks/")
    importlib.import_module(f"benchmarks.{script}").main(rest[1:])


if __name__ == "__main__":
    main()
