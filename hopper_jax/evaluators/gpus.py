"""Finding GPUs without initialising CUDA, and reading PyHopper's `n_jobs` forms.

Nothing here imports jax or touches a CUDA context: the parent process of a worker pool must stay
uninitialised (a forked or re-used JAX backend deadlocks), so GPUs are counted from
`CUDA_VISIBLE_DEVICES`, then NVML (`pynvml`, if installed), then `nvidia-smi -L`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

NO_GPU_MESSAGE = (
    "n_jobs='per-gpu' found no GPU: set CUDA_VISIBLE_DEVICES (e.g. CUDA_VISIBLE_DEVICES=0,1) or install "
    "the NVIDIA driver; use an integer n_jobs for CPU workers."
)
N_JOBS_FORMS = (
    "an int k >= 1 (k worker processes), 0 or -1 (one worker per available CPU core), a numeric string "
    "such as '4', 'per-gpu' / 'per_gpu' (one worker per GPU) or 'Nx per-gpu' (N workers per GPU, "
    "e.g. '2x per-gpu')"
)
_ORDINAL = re.compile(r"\d+")
_SMI_LINE = re.compile(r"^GPU (\d+):")
_PER_GPU = re.compile(r"(?:(\d+)\s*[x*]?\s*)?per[-_]gpu")


def parse_cuda_visible_devices(value: str) -> list[str]:
    """The device ids in a CUDA_VISIBLE_DEVICES value, cut at the first invalid entry as CUDA does.

    Entries are ordinals (`0`), UUIDs (`GPU-8932f937...`, prefixes allowed) or MIG ids (`MIG-...`);
    an empty value means no GPU, and `"0,2,-1,1"` means GPUs 0 and 2.
    """
    ids: list[str] = []
    for entry in value.split(","):
        entry = entry.strip()
        if not (_ORDINAL.fullmatch(entry) or entry.startswith(("GPU-", "MIG-"))):
            break
        ids.append(entry)
    return ids


def _nvml_gpus() -> list[str] | None:
    """GPU ordinals from NVML, or None when pynvml is missing or NVML fails."""
    try:
        import pynvml  # type: ignore[import-not-found]  # optional: nvidia-ml-py
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver: fall back to nvidia-smi
        return None
    try:
        return [str(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # noqa: BLE001
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def _nvidia_smi_gpus() -> list[str]:
    """GPU ordinals from the 'GPU N: ...' lines of `nvidia-smi -L` (run without a shell), else []."""
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return []
    try:
        listing = subprocess.run([executable, "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    if listing.returncode != 0:
        return []
    return [match.group(1) for line in listing.stdout.splitlines() if (match := _SMI_LINE.match(line.strip()))]


def visible_gpus() -> list[str]:
    """The GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else NVML, else `nvidia-smi -L`."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is not None:
        return parse_cuda_visible_devices(value)
    gpus = _nvml_gpus()
    return gpus if gpus is not None else _nvidia_smi_gpus()


def cpu_count() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _invalid(n_jobs: Any, why: str = "") -> ValueError:
    return ValueError(f"n_jobs={n_jobs!r} is not understood{why}; use {N_JOBS_FORMS}.")


def parse_n_jobs(n_jobs: Any) -> tuple[int, list[str] | None]:
    """(number of workers, GPU id of each worker or None for CPU workers) for PyHopper's n_jobs forms."""
    if isinstance(n_jobs, str):
        text = n_jobs.strip().lower()
        if re.fullmatch(r"[+-]?\d+", text):
            return parse_n_jobs(int(text))
        match = _PER_GPU.fullmatch(text)
        if match is None:
            raise _invalid(n_jobs)
        multiplier = int(match.group(1) or 1)
        if multiplier < 1:
            raise _invalid(n_jobs, " (the multiplier must be at least 1)")
        gpus = visible_gpus()
        if not gpus:
            raise ValueError(NO_GPU_MESSAGE)
        n_workers = len(gpus) * multiplier
        return n_workers, [gpus[i % len(gpus)] for i in range(n_workers)]
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int):
        raise _invalid(n_jobs)
    if n_jobs == 0:
        raise _invalid(n_jobs, " (0 workers cannot evaluate anything; -1 means one worker per core)")
    return (n_jobs if n_jobs >= 1 else cpu_count()), None


def worker_environment(gpu: str | None, shared: bool) -> dict[str, str]:
    """Environment variables that pin a worker to `gpu` for its whole life (before jax/torch start).

    `shared` (several workers on one device, or several CPU workers on a machine that may have a GPU)
    turns off JAX's preallocation of 75 % of the GPU memory, unless the user chose a setting.
    """
    env: dict[str, str] = {}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    if shared and "XLA_PYTHON_CLIENT_PREALLOCATE" not in os.environ:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    return env
