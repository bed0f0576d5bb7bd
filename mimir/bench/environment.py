"""The machine and software a measurement ran on: one record for every report, benchmark and training run.

`environment()` is what NanoBench reports, `python -m mimir` JSON, a training run's `environment.json` and every
script of `benchmarks/` store under "environment". Its keys are those NanoBench reports have always had (python,
platform, processor, cpu_count, packages, cuda = the GPU's name), so stored reports and new ones read alike, plus
the CPU's model name, torch's thread count, the GPU's memory, the CUDA version and the git commit of the code.
"""

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch


PACKAGES = (
    "torch",
    "diffusers",
    "transformers",
    "gradio",
    "accelerate",
    "bitsandbytes",
    "tokenizers",
    "safetensors",
    "torchao",
    "numpy",
    "scipy",
    "scikit-image",
)
REPO = Path(__file__).resolve().parents[2]  # the checkout the package runs from (editable install)


def package_version(package: str) -> str | None:
    """The installed version of `package`, None when it is not installed."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The processor's model name from /proc/cpuinfo (platform.processor() says only 'x86_64' on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """The commit of the checkout the package runs from, with "-dirty" when tracked files differ from it; None
    outside a git checkout (an installed wheel)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--"], capture_output=True, timeout=30
        ).returncode
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty == 1 else "") if commit else None


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (other processes sharing the cores), None where the OS has none. A
    measurement of the moment, so it is not part of `environment()`: a script records it at start and end."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def environment(device: torch.device | str | None = None) -> dict[str, Any]:
    """Machine, package versions and code version for a report. The GPU is `device`'s when it is a CUDA device,
    else the first visible one (None without CUDA)."""
    device = torch.device(device) if device is not None else None
    gpu = device if device is not None and device.type == "cuda" else torch.device("cuda", 0)
    has_gpu = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "packages": {p: package_version(p) for p in PACKAGES},
        "cuda": torch.cuda.get_device_name(gpu) if has_gpu else None,  # the GPU's name (the key reports use)
        "gpu_memory_bytes": torch.cuda.get_device_properties(gpu).total_memory if has_gpu else None,
        "cuda_version": torch.version.cuda,
        "git_commit": git_commit(),
    }
