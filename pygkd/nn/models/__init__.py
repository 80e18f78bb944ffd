"""Models: STGCN (teacher, student and pruning base are configurations of one class) and the
zoo of PyG Temporal forecasters behind the same interface (:mod:`pygkd.nn.models.registry`).

The PyG Temporal wrappers are imported from their modules (``pygkd.nn.models.recurrent``,
``pygkd.nn.models.stconv``) or built by name (:func:`build_forecaster`), so that importing
:mod:`pygkd.nn` does not import PyG Temporal.
"""

from pygkd.nn.models.registry import (
    MODELS,
    build_forecaster,
    model_class,
    model_family,
    model_names,
    register_model,
)
from pygkd.nn.models.stgcn import PRESETS, STGCN, resolve_blocks

__all__ = ["STGCN", "PRESETS", "resolve_blocks", "MODELS", "build_forecaster", "model_class",
           "model_family", "model_names", "register_model"]
classes = ["STGCN"]
