"""Importing PyTorch Geometric Temporal without ``torch-sparse`` / ``torch-scatter``.

``torch-geometric-temporal`` declares ``torch-sparse`` and ``torch-scatter`` as dependencies, but
PyPI has them only as source packages that take many minutes to compile. The library's only use
of them is ``from torch_sparse import SparseTensor`` in one model (``EvolveGCNO``), executed when
the package is imported. pygkd installs PyG Temporal with ``--no-deps``.

``import pygkd`` installs an import hook (:func:`install_pyg_temporal_hook`), so that a plain
``import torch_geometric_temporal`` works afterwards: when the real ``torch_sparse`` is absent,
that one import resolves to PyG's own ``SparseTensor`` placeholder while PyG Temporal's package
is being imported, and the stand-in module is removed from ``sys.modules`` afterwards, so no
other library mistakes it for the real package. With ``torch_sparse`` installed the hook does
nothing. The hook costs nothing until PyG Temporal is imported.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["import_pyg_temporal", "install_pyg_temporal_hook",
           "static_graph_temporal_signal_class", "require_extra"]

_PACKAGE = "torch_geometric_temporal"


@contextlib.contextmanager
def _torch_sparse_stand_in() -> Iterator[None]:
    """``torch_sparse`` resolves to PyG's placeholder inside the block, if it is absent."""
    try:
        import torch_sparse  # noqa: F401
    except ImportError:
        pass
    else:
        yield
        return
    from torch_geometric.typing import SparseTensor

    stub = types.ModuleType("torch_sparse")
    stub.SparseTensor = SparseTensor  # type: ignore[attr-defined]
    sys.modules["torch_sparse"] = stub
    try:
        yield
    finally:
        if sys.modules.get("torch_sparse") is stub:
            del sys.modules["torch_sparse"]


class _StandInLoader(importlib.abc.Loader):
    """Runs PyG Temporal's own loader with the ``torch_sparse`` stand-in in place."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        with _torch_sparse_stand_in():
            self.loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:  # resources, get_data, ...
        return getattr(self.loader, name)


class PygTemporalFinder(importlib.abc.MetaPathFinder):
    """Finds ``torch_geometric_temporal`` as the path finder does, with the stand-in loader."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: types.ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _PACKAGE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _StandInLoader(spec.loader)
        return spec


def install_pyg_temporal_hook() -> None:
    """Let ``import torch_geometric_temporal`` work without ``torch_sparse`` (idempotent)."""
    if not any(isinstance(f, PygTemporalFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, PygTemporalFinder())


def import_pyg_temporal() -> Any:
    """Import and return the ``torch_geometric_temporal`` package.

    Raises:
        ImportError: if the package is not installed, with the command that installs it.
    """
    install_pyg_temporal_hook()
    try:
        return importlib.import_module(_PACKAGE)
    except ModuleNotFoundError as err:
        if err.name == _PACKAGE:
            raise ImportError(
                "pygkd needs torch-geometric-temporal: "
                "pip install --no-deps 'torch-geometric-temporal>=0.54'"
            ) from err
        raise


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
