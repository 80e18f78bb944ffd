"""Mixed precision: ``32`` (float32, or the model's own dtype), ``bf16`` (bfloat16 autocast) and
``16-mixed`` (float16 autocast with a gradient scaler), the names Lightning users know.

Only the forward pass runs under :func:`torch.autocast`; the distillation distances
(:mod:`pygkd.distill.functional`) are computed in float32 whatever the autocast dtype.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager as ContextManager

import torch
from torch import Tensor

from pygkd.errors import InputError

__all__ = ["PRECISIONS", "Precision"]

#: Accepted ``--precision`` values.
PRECISIONS = ("32", "bf16", "16-mixed")


class Precision:
    """Autocast and loss scaling for one ``precision`` on one ``device``.

    Example:
        >>> p = Precision("bf16", torch.device("cpu"))
        >>> with p.autocast():
        ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
        torch.bfloat16
    """

    def __init__(self, precision: str = "32", device: torch.device | None = None) -> None:
        precision = str(precision)
        if precision in ("32", "32-true", "fp32"):
            precision = "32"
        if precision not in PRECISIONS:
            raise InputError(f"--precision: expected one of {', '.join(PRECISIONS)} "
                             f"(got {precision!r})")
        self.name = precision
        self.device = device or torch.device("cpu")
        self.dtype = {"32": None, "bf16": torch.bfloat16, "16-mixed": torch.float16}[precision]
        use_scaler = precision == "16-mixed" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler(self.device.type) if use_scaler else None

    def autocast(self) -> ContextManager:
        """The context for the forward pass (a no-op for ``32``)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward(self, loss: Tensor) -> None:
        """``loss.backward()``, scaled for float16."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``, unscaling (and skipping overflowed steps) for float16."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict:
        return {} if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
