"""GPU discovery (CUDA_VISIBLE_DEVICES → NVML → nvidia-smi) and PyHopper's n_jobs forms, without any GPU."""

import subprocess
import sys
import types

import pytest

from hopper_jax.evaluators import gpus


@pytest.fixture
def no_driver(monkeypatch):
    """No CUDA_VISIBLE_DEVICES, no NVML, no nvidia-smi."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml → ImportError
    monkeypatch.setattr(gpus.shutil, "which", lambda name: None)


@pytest.mark.parametrize("value, expected", [
    ("0", ["0"]),
    ("1,0", ["1", "0"]),
    (" 0 , 2 ", ["0", "2"]),
    ("0,2,-1,1", ["0", "2"]),  # CUDA stops at the first invalid entry
    ("", []),  # set but empty: no GPU
    ("-1", []),
    ("0,,1", ["0"]),
    ("nope,0", []),
    ("GPU-8932f937-d72c,MIG-abc/1/2", ["GPU-8932f937-d72c", "MIG-abc/1/2"]),
])
def test_cuda_visible_devices_is_parsed_like_cuda(monkeypatch, value, expected):
    assert gpus.parse_cuda_visible_devices(value) == expected
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    monkeypatch.setattr(gpus, "_nvml_gpus", lambda: pytest.fail("NVML must not be asked when the variable is set"))
    assert gpus.visible_gpus() == expected


def test_nvml_comes_before_nvidia_smi(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    calls = []
    fake = types.SimpleNamespace(nvmlInit=lambda: calls.append("init"), nvmlDeviceGetCount=lambda: 3,
                                 nvmlShutdown=lambda: calls.append("shutdown"))
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(gpus.shutil, "which", lambda name: pytest.fail("nvidia-smi must not run when NVML works"))
    assert gpus.visible_gpus() == ["0", "1", "2"]
    assert calls == ["init", "shutdown"]


def test_nvidia_smi_is_parsed_without_a_shell(monkeypatch, no_driver):
    listing = ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1111)\n"
               "  MIG 1g.10gb     Device  0: (UUID: MIG-2222)\n"
               "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-3333)\n")
    seen = {}

    def run(args, **options):
        seen.update(args=args, **options)
        return subprocess.CompletedProcess(args, 0, listing, "")

    monkeypatch.setattr(gpus.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(gpus.subprocess, "run", run)
    assert gpus.visible_gpus() == ["0", "1"]
    assert seen["args"] == ["/usr/bin/nvidia-smi", "-L"] and not seen.get("shell")


def test_failing_nvidia_smi_means_no_gpu(monkeypatch, no_driver):
    monkeypatch.setattr(gpus.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(gpus.subprocess, "run", lambda args, **_: subprocess.CompletedProcess(args, 9, "", "no driver"))
    assert gpus.visible_gpus() == []
    monkeypatch.setattr(gpus.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(OSError("exec failed")))
    assert gpus.visible_gpus() == []


@pytest.mark.parametrize("n_jobs, workers", [(3, 3), ("2", 2), (" 4 ", 4), (1, 1), ("1", 1)])
def test_integer_n_jobs(n_jobs, workers):
    assert gpus.parse_n_jobs(n_jobs) == (workers, None)


@pytest.mark.parametrize("n_jobs", [-1, -5, "-1"])
def test_negative_n_jobs_means_one_worker_per_core(n_jobs):
    assert gpus.parse_n_jobs(n_jobs) == (gpus.cpu_count(), None)


@pytest.mark.parametrize("n_jobs", [0, "0"])
def test_zero_n_jobs_is_refused_with_advice(n_jobs):
    with pytest.raises(ValueError, match="-1 means one worker per core"):
        gpus.parse_n_jobs(n_jobs)


@pytest.mark.parametrize("n_jobs, slots", [
    ("per-gpu", ["3", "5"]),
    ("per_gpu", ["3", "5"]),
    ("PER-GPU", ["3", "5"]),
    ("1x per-gpu", ["3", "5"]),
    ("2x per-gpu", ["3", "5", "3", "5"]),  # round-robin over the GPUs
    ("3xper_gpu", ["3", "5"] * 3),
])
def test_per_gpu_n_jobs(monkeypatch, n_jobs, slots):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert gpus.parse_n_jobs(n_jobs) == (len(slots), slots)


@pytest.mark.parametrize("n_jobs", ["two", "per-cpu", "2 per gpu", "0x per-gpu", "", 2.0, None, True, [2]])
def test_invalid_n_jobs_lists_the_accepted_forms(monkeypatch, n_jobs):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(ValueError, match="per-gpu") as caught:
        gpus.parse_n_jobs(n_jobs)
    assert "numeric string" in str(caught.value) and repr(n_jobs) in str(caught.value)


@pytest.mark.parametrize("n_jobs", ["per-gpu", "2x per_gpu"])
def test_per_gpu_without_gpu_says_what_to_do(no_driver, n_jobs):
    with pytest.raises(ValueError, match="found no GPU: set CUDA_VISIBLE_DEVICES") as caught:
        gpus.parse_n_jobs(n_jobs)
    assert "integer n_jobs" in str(caught.value)


def test_per_gpu_with_empty_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ValueError, match="CUDA_VISIBLE_DEVICES"):
        gpus.parse_n_jobs("per-gpu")


def test_worker_environment(monkeypatch):
    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    assert gpus.worker_environment("2", shared=False) == {"CUDA_VISIBLE_DEVICES": "2",
                                                          "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert gpus.worker_environment("2", shared=True)["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert gpus.worker_environment(None, shared=False) == {}
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "true")  # the user's choice wins
    assert "XLA_PYTHON_CLIENT_PREALLOCATE" not in gpus.worker_environment("2", shared=True)


def test_gpus_module_does_not_import_jax():
    code = ("import sys, importlib.util as u; spec = u.spec_from_file_location('g', %r); "
            "m = u.module_from_spec(spec); spec.loader.exec_module(m); m.visible_gpus(); m.parse_n_jobs(2); "
            "assert 'jax' not in sys.modules, 'jax imported'") % gpus.__file__
    subprocess.run([sys.executable, "-c", code], check=True)
