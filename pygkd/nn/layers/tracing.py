"""Whether the layers run under a tracer (``torch.compile``, ``torch.export``, ``torch.jit``)."""

from __future__ import annotations

import torch

__all__ = ["traced"]


def traced() -> bool:
    """Under ``torch.compile``, ``torch.export`` or ``torch.jit`` tracing: shapes stay symbolic
    and the graph is exported, so the layers take their plain paths (no batch-dependent
    choices, no custom backward)."""
    exporting = getattr(torch.compiler, "is_exporting", lambda: False)
    return bool(torch.compiler.is_compiling() or exporting() or torch.jit.is_tracing())
