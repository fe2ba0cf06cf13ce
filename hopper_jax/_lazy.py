"""Package attributes imported on first use (PEP 562), so that `import hopper_jax` does not import JAX.

A pool's worker process imports only what its objective touches: a plain Python objective is ready in a
fraction of a second instead of the seconds JAX's import takes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list]]:
    """`(__getattr__, __dir__)` for `package`; `exports` maps a public name to 'module' (a submodule of that
    name, relative to the package) or 'module:attribute'."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attribute = target.partition(":")
        module = importlib.import_module(f"{package}.{module_name}" if module_name else package)
        value = getattr(module, attribute) if attribute else module
        namespace[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__() -> list:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
