"""Importing PyTorch Geometric Temporal without ``torch-sparse`` / ``torch-scatter``.

``torch-geometric-temporal`` declares ``torch-sparse`` and ``torch-scatter`` as dependencies, but
PyPI has them only as source packages that take many minutes to compile. The library's only use
of them is ``from torch_sparse import SparseTensor`` in one model (``EvolveGCNO``), executed when
the package is imported. pygkd installs PyG Temporal with ``--no-deps`` and, if ``torch_sparse``
is missing, lets that one import resolve to PyG's own ``SparseTensor`` placeholder for the
duration of the import only; the stand-in module is removed from ``sys.modules`` afterwards so
that no other library mistakes it for the real package.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__all__ = ["import_pyg_temporal", "static_graph_temporal_signal_class", "require_extra"]


def import_pyg_temporal() -> Any:
    """Import and return the ``torch_geometric_temporal`` package.

    Raises:
        ImportError: if the package is not installed, with the command that installs it.
    """
    if "torch_geometric_temporal" in sys.modules:
        return sys.modules["torch_geometric_temporal"]
    try:
        import torch_sparse  # noqa: F401
    except ImportError:
        stub_needed = True
    else:
        stub_needed = False
    if not stub_needed:
        return importlib.import_module("torch_geometric_temporal")

    from torch_geometric.typing import SparseTensor

    stub = types.ModuleType("torch_sparse")
    stub.SparseTensor = SparseTensor  # type: ignore[attr-defined]
    sys.modules["torch_sparse"] = stub
    try:
        return importlib.import_module("torch_geometric_temporal")
    except ModuleNotFoundError as err:
        if err.name == "torch_geometric_temporal":
            raise ImportError(
                "pygkd needs torch-geometric-temporal: "
                "pip install --no-deps 'torch-geometric-temporal>=0.54'"
            ) from err
        raise
    finally:
        if sys.modules.get("torch_sparse") is stub:
            del sys.modules["torch_sparse"]


def static_graph_temporal_signal_class() -> type:
    """Return PyG Temporal's ``StaticGraphTemporalSignal`` class."""
    return import_pyg_temporal().signal.StaticGraphTemporalSignal


def require_extra(module: str, extra: str, purpose: str) -> Any:
    """Import ``module`` from an optional extra, or raise a one-line error naming the extra.

    Example:
        >>> require_extra("json", "report", "figures").__name__
        'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        from pygkd.errors import InputError

        raise InputError(f"{purpose} need {module.split('.')[0]!r}, from the {extra!r} extra: "
                         f"pip install 'pygkd[{extra}]'") from None
