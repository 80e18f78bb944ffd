"""The environment a run was made in: versions, CPU, threads (for reports)."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["environment_info"]

PACKAGES = ("torch", "torch-geometric", "torch-geometric-temporal", "numpy", "pandas", "networkx",
            "click", "matplotlib", "scikit-learn")


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return "-"
    return out.stdout.strip() or "-"


def environment_info() -> dict[str, str]:
    """Python, OS, CPU, core count, torch threads, package versions and the pygkd commit.

    Example:
        >>> info = environment_info()
        >>> sorted(k for k in info if k in ("python", "torch", "cpu"))
        ['cpu', 'python', 'torch']
    """
    import torch

    import pygkd

    info = {
        "pygkd": f"{pygkd.__version__} (commit {_git_commit()})",
        "python": platform.python_version(),
        "os": platform.platform(),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "cuda": "available" if torch.cuda.is_available() else "not available",
    }
    for name in PACKAGES:
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info[name] = "not installed"
    return info
