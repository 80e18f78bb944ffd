"""Device selection: ``auto | cpu | cuda | cuda:N | mps``."""

from __future__ import annotations

import re

import torch

from pygkd.errors import InputError

__all__ = ["resolve_device", "DEVICE_HELP"]

#: What ``--device`` accepts.
DEVICE_HELP = "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps"


def resolve_device(spec: str | torch.device | None = "auto",
                   local_rank: int | None = None) -> torch.device:
    """The :class:`torch.device` for ``spec``; a clear error when it is not available.

    Under ``torchrun`` (``local_rank`` given) ``auto`` and ``cuda`` pick the process's own GPU.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if isinstance(spec, torch.device):
        return spec
    text = str(spec or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            text = "cuda"
        elif _mps_available():
            text = "mps"
        else:
            text = "cpu"
    if text == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", text)
    if match:
        if not torch.cuda.is_available():
            raise InputError(f"--device: {spec!r} asked for, but this PyTorch sees no CUDA GPU "
                             f"(choose from: {DEVICE_HELP})")
        index = int(match.group(1)) if match.group(1) is not None else (local_rank or 0)
        if index >= torch.cuda.device_count():
            raise InputError(f"--device: {spec!r}: only {torch.cuda.device_count()} CUDA "
                             "device(s) visible")
        return torch.device("cuda", index)
    if text == "mps":
        if not _mps_available():
            raise InputError(f"--device: 'mps' asked for, but this PyTorch has no MPS backend "
                             f"(choose from: {DEVICE_HELP})")
        return torch.device("mps")
    raise InputError(f"--device: expected {DEVICE_HELP} (got {spec!r})")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
