"""Shared helpers: machine description and markdown tables."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from importlib import metadata


def _cpu_name() -> str:
    """CPU model name (``platform.processor()`` is often empty on Linux)."""
    name = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name or platform.machine()


def package_version(package: str) -> str:
    """Installed version of ``package`` or ``'-'``."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def machine_line() -> str:
    """One line: CPU, core count, Python and library versions."""
    import jax

    libs = ", ".join(
        f"{p} {package_version(p)}" for p in ("jax", "numpy", "pyhopper", "evosax", "optuna", "nevergrad")
    )
    return (
        f"{_cpu_name()}; nproc={os.cpu_count()}; jax backend={jax.default_backend()}; "
        f"python {platform.python_version()}; {libs}"
    )


def hopper_jax_fingerprint() -> str:
    """sha256 (12 hex) of the hopper_jax sources, to tie results to a tree state."""
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "hopper_jax")
    digest = hashlib.sha256()
    paths = sorted(
        os.path.join(d, f) for d, _, files in os.walk(root) for f in files
        if f.endswith(".py")
    )
    for path in paths:
        digest.update(os.path.relpath(path, root).encode())
        with open(path, "rb") as fh:
            digest.update(fh.read())
    return digest.hexdigest()[:12] if paths else "-"


def footer() -> str:
    """Markdown footer with the command, date and machine."""
    cmd = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0])] + sys.argv[1:])
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (f"Command: `python {cmd}` — {now} — {machine_line()}; "
            f"hopper_jax sources sha256 {hopper_jax_fingerprint()}")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Render a simple markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 4) -> str:
    """Compact number formatting; ``None`` renders as ``n/a``."""
    if value is None:
        return "n/a"
    return f"{value:.{digits}g}"
