"""The model zoo: every forecaster pygkd trains, distils and evaluates, by name.

All of them map a window ``x [B, T, N, C]`` and the graph (``edge_index``, ``edge_weight``) to
the next step ``[B, 1, N, 1]``, name their feature points for the distillation losses
(``temporal_layer_names``, ``spatial_layer_names``, ``hidden_layer_name``), and save and
rebuild themselves (``config()`` / ``from_config``). Classes are imported when first used, so
listing the zoo (``pygkd train --help``) imports no model code.

The built-ins are listed literally in :data:`MODELS`; :func:`register_model` adds a family
(a plain function, usable as a class decorator), and another package adds its families on
install through the ``pygkd.models`` entry point group (``name = "package.module:Class"``),
read when a name is looked up (:func:`model_class`, :func:`model_names`), never on
``import pygkd``.

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

__all__ = ["ModelEntry", "MODELS", "model_class", "build_forecaster", "model_family",
           "register_model", "model_names", "load_model_plugins", "model_options",
           "ENTRY_POINT_GROUP"]

#: The entry point group through which other packages add model families.
ENTRY_POINT_GROUP = "pygkd.models"


@dataclass(frozen=True)
class ModelEntry:
    """One family of the zoo: where its class lives and what it is."""

    target: str | type  #: ``module:Class`` (imported when used), or the class itself
    summary: str
    prunable: bool = False  #: Algorithm 1's channel groups exist for it (``channel_groups()``)

    @property
    def class_name(self) -> str:
        return self.target.__name__ if isinstance(self.target, type) else \
            self.target.split(":")[1]


#: Name (as on the command line) -> entry.
MODELS: dict[str, ModelEntry] = {
    "stgcn": ModelEntry("pygkd.nn.models.stgcn:STGCN",
                        "STGCN of the paper (Chebyshev, presets teacher/student/pruning-base)",
                        prunable=True),
    "stconv": ModelEntry("pygkd.nn.models.stconv:STConvForecaster",
                         "PyG Temporal STConv blocks (per-slice Chebyshev)"),
    "gconvgru": ModelEntry("pygkd.nn.models.recurrent:GConvGRUForecaster",
                           "PyG Temporal GConvGRU (GRU of Chebyshev convolutions)",
                prunable=True),
    "tgcn": ModelEntry("pygkd.nn.models.recurrent:TGCNForecaster",
                       "PyG Temporal TGCN (GRU of GCN outputs)",
                prunable=True),
    "a3tgcn": ModelEntry("pygkd.nn.models.recurrent:A3TGCNForecaster",
                         "PyG Temporal A3TGCN (TGCN with attention over the steps)",
                prunable=True),
    "dcrnn": ModelEntry("pygkd.nn.models.recurrent:DCRNNForecaster",
                        "PyG Temporal DCRNN (GRU of diffusion convolutions)"),
}


def register_model(name: str, cls: type | str | None = None, summary: str = "",
                   prunable: bool = False) -> Any:
    """Add a model family to :data:`MODELS` as ``name`` (``pygkd train --model NAME``).

    Used as ``register_model("mine", MyForecaster)`` or as a class decorator
    ``@register_model("mine")``. The class takes ``num_nodes`` first, then keyword options
    (``hidden``, ``n_in``, ``in_channels``, ``K``...), maps ``x [B, T, N, C]`` and the graph to
    the next step ``[B, 1, N, 1]``, and saves itself with ``config()`` / ``from_config``. A name
    already taken by another class is an error.

    Example:
        >>> class Mine(nn.Module):
        ...     def __init__(self, num_nodes, hidden=4):
        ...         super().__init__()
        >>> register_model("mine-doc", Mine, "an example") is Mine
        True
        >>> model_class("mine-doc").__name__
        'Mine'
        >>> del MODELS["mine-doc"]
    """
    key = str(name).lower()

    def add(target: type | str) -> Any:
        old = MODELS.get(key)
        if old is not None and old.target != target:
            raise InputError(f"register_model: {key!r} is already {old.class_name}")
        doc = summary or (getattr(target, "__doc__", None) or "").strip().split("\n")[0]
        MODELS[key] = ModelEntry(target, doc, prunable)
        return target

    return add if cls is None else add(cls)


def load_model_plugins() -> dict[str, ModelEntry]:
    """Add the families other packages declare in the ``pygkd.models`` entry point group
    (without importing them) and return :data:`MODELS`."""
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        key = point.name.lower()
        if key not in MODELS:
            dist = getattr(point, "dist", None)
            MODELS[key] = ModelEntry(point.value, f"from {dist.name if dist else point.value}")
    return MODELS


def model_names() -> list[str]:
    """The registered family names (built-ins and installed plug-ins), sorted."""
    return sorted(load_model_plugins())


def model_class(name: str) -> type[nn.Module]:
    """The class registered as ``name``; a one-line error for an unknown name."""
    entry = MODELS.get(str(name).lower()) or load_model_plugins().get(str(name).lower())
    if entry is None:
        raise InputError(f"model: unknown {name!r} (choose from: {', '.join(sorted(MODELS))})")
    if isinstance(entry.target, type):
        return entry.target
    module, cls = entry.target.split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as err:
        raise InputError(f"model {name!r}: cannot import {entry.target} ({err})") from None


def model_family(model: nn.Module) -> str:
    """The registry name of a model (of the model inside a DDP / compile wrapper)."""
    from pygkd.runtime.distributed import unwrap_model

    model = unwrap_model(model)
    for name, entry in MODELS.items():
        if entry.target is type(model) or entry.class_name == type(model).__name__:
            return name
    return type(model).__name__.lower()


def model_options(name: str) -> list[str]:
    """The options family ``name``'s constructor takes besides ``num_nodes``.

    Example:
        >>> model_options("gconvgru")
        ['in_channels', 'hidden', 'n_in', 'K']
    """
    params = inspect.signature(model_class(name).__init__).parameters
    return [k for k, p in params.items() if k not in ("self", "num_nodes")
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def build_forecaster(name: str, num_nodes: int, **options: Any) -> nn.Module:
    """A new model of family ``name`` for ``num_nodes`` sensors: the one way pygkd builds a
    model. ``options`` go to the family's constructor (``hidden``, ``K``, ``n_in``, ...);
    ``None`` values are left out, and an option the family does not take is an error (never
    silently dropped).

    Example:
        >>> build_forecaster("stgcn", 5, blocks=[[1, 2, 4]]).num_nodes
        5
        >>> build_forecaster("stgcn", 5, blocks=[[1, 2, 4]], hidden=32)
        Traceback (most recent call last):
        ...
        pygkd.errors.InputError: model stgcn: does not take hidden (it takes: blocks, n_in, ...
    """
    accepted = model_options(name)
    cls = model_class(name)
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(k for k in given if k not in accepted)
    if unknown:
        raise InputError(f"model {name}: does not take {', '.join(unknown)} (it takes: "
                         f"{', '.join(accepted)})")
    return cls(num_nodes, **given)
