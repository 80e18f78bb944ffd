"""The model zoo: every forecaster pygkd trains, distils and evaluates, by name.

All of them map a window ``x [B, T, N, C]`` and the graph (``edge_index``, ``edge_weight``) to
the next step ``[B, 1, N, 1]``, name their feature points for the distillation losses
(``temporal_layer_names``, ``spatial_layer_names``, ``hidden_layer_name``), and save and
rebuild themselves (``config()`` / ``from_config``). Classes are imported when first used, so
listing the zoo (``pygkd train --help``) imports no model code.

Example:
    >>> sorted(MODELS)
    ['a3tgcn', 'dcrnn', 'gconvgru', 'stconv', 'stgcn', 'tgcn']
    >>> model_class("stgcn").__name__
    'STGCN'
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

from torch import nn

from pygkd.errors import InputError

__all__ = ["ModelEntry", "MODELS", "model_class", "build_forecaster", "model_family"]


@dataclass(frozen=True)
class ModelEntry:
    """One family of the zoo: where its class lives and what it is."""

    target: str  #: ``module:Class``
    summary: str
    prunable: bool = False  #: Algorithm 1's channel groups exist for it


#: Name (as on the command line) -> entry.
MODELS: dict[str, ModelEntry] = {
    "stgcn": ModelEntry("pygkd.nn.models.stgcn:STGCN",
                        "STGCN of the paper (Chebyshev, presets teacher/student/pruning-base)",
                        prunable=True),
    "stconv": ModelEntry("pygkd.nn.models.stconv:STConvForecaster",
                         "PyG Temporal STConv blocks (per-slice Chebyshev)"),
    "gconvgru": ModelEntry("pygkd.nn.models.recurrent:GConvGRUForecaster",
                           "PyG Temporal GConvGRU (GRU of Chebyshev convolutions)"),
    "tgcn": ModelEntry("pygkd.nn.models.recurrent:TGCNForecaster",
                       "PyG Temporal TGCN (GRU of GCN outputs)"),
    "a3tgcn": ModelEntry("pygkd.nn.models.recurrent:A3TGCNForecaster",
                         "PyG Temporal A3TGCN (TGCN with attention over the steps)"),
    "dcrnn": ModelEntry("pygkd.nn.models.recurrent:DCRNNForecaster",
                        "PyG Temporal DCRNN (GRU of diffusion convolutions)"),
}


def model_class(name: str) -> type[nn.Module]:
    """The class registered as ``name``; a one-line error for an unknown name."""
    entry = MODELS.get(str(name).lower())
    if entry is None:
        raise InputError(f"model: unknown {name!r} (choose from: {', '.join(sorted(MODELS))})")
    module, cls = entry.target.split(":")
    return getattr(importlib.import_module(module), cls)


def model_family(model: nn.Module) -> str:
    """The registry name of a model (of the model inside a DDP / compile wrapper)."""
    from pygkd.runtime.distributed import unwrap_model

    model = unwrap_model(model)
    for name, entry in MODELS.items():
        if entry.target.split(":")[1] == type(model).__name__:
            return name
    return type(model).__name__.lower()


def build_forecaster(name: str, num_nodes: int, **options: Any) -> nn.Module:
    """A new model of family ``name`` for ``num_nodes`` sensors; ``options`` the family's
    constructor takes are passed (``hidden``, ``K``, ``n_in``, ...), ``None`` values and the
    others are left out.

    Example:
        >>> build_forecaster("stgcn", 5, blocks=[[1, 2, 4]], hidden=32).num_nodes
        5
    """
    cls = model_class(name)
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in options.items() if k in accepted and v is not None}
    return cls(num_nodes, **kwargs)
