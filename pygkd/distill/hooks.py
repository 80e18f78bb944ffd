"""Capture intermediate features with forward hooks, and always remove the hooks.

:class:`FeatureCapture` works on any ``torch.nn.Module`` whose layers can be named (their
``named_modules()`` paths): STGCN exposes its temporal and spatial layer names, and for other
models (for example PyG Temporal's recurrent cells) the user names the layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch  # noqa: F401  (doctests)
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

__all__ = ["FeatureCapture", "get_submodule_or_raise"]


def get_submodule_or_raise(model: nn.Module, name: str) -> nn.Module:
    """``model.get_submodule(name)``, or a ``KeyError`` that lists the valid names."""
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        valid = [n for n in modules if n]
        shown = ", ".join(valid[:40]) + (" ..." if len(valid) > 40 else "")
        raise KeyError(f"Unknown layer {name!r} in {type(model).__name__} (choose from: {shown})")
    return modules[name]


class FeatureCapture:
    """Context manager recording the outputs of named submodules during forward passes.

    Args:
        model (nn.Module): any module.
        names (sequence of str): submodule paths, as in ``model.named_modules()``.
        detach (bool): store detached outputs (for a frozen teacher) (default: ``False``).
        transform (callable, optional): applied to each captured output (e.g. a reshape).
        accumulate (bool): keep every call's output and stack them along a new time axis
            (dim 1). A recurrent cell called once per step (PyG Temporal's ``GConvGRU``,
            ``TGCN2`` inside ``A3TGCN2``) returns ``[B, N, C]`` each step; accumulated, its
            features read as ``[B, T, N, C]``, ready for ``L_TCD`` and ``L_SCD``
            (default: ``False``).

    The hooks are removed on exit, also when the forward pass raises.

    Example:
        >>> from pygkd.nn import STGCN
        >>> from pygkd.testing import toy_graph
        >>> model = STGCN(5, [[1, 2, 4], [4, 2, 8]])
        >>> ei, ew = toy_graph(5)
        >>> with FeatureCapture(model, model.spatial_layer_names) as cap:
        ...     _ = model(torch.randn(3, 12, 5, 1), ei, ew)
        >>> [tuple(f.shape) for f in cap.features.values()]
        [(3, 10, 5, 2), (3, 6, 5, 2)]
        >>> any(m._forward_hooks for m in model.modules())
        False
    """

    def __init__(self, model: nn.Module, names: Sequence[str], detach: bool = False,
                 transform: Callable[[Any], Tensor] | None = None,
                 accumulate: bool = False) -> None:
        self.model, self.names, self.detach = model, list(names), detach
        self.transform, self.accumulate = transform, accumulate
        self._captured: dict[str, list[Tensor]] = {}
        self._handles: list[RemovableHandle] = []
        self._modules = [get_submodule_or_raise(model, n) for n in self.names]

    @property
    def features(self) -> dict[str, Tensor]:
        """Captured outputs by layer name (stacked along dim 1 with ``accumulate=True``)."""
        if self.accumulate:
            return {k: torch.stack(v, dim=1) for k, v in self._captured.items()}
        return {k: v[-1] for k, v in self._captured.items()}

    def __enter__(self) -> FeatureCapture:
        self._captured.clear()
        for name, module in zip(self.names, self._modules, strict=False):
            self._handles.append(module.register_forward_hook(partial(self._store, name)))
        return self

    def __exit__(self, *exc: object) -> None:
        while self._handles:
            self._handles.pop().remove()

    def _store(self, name: str, module: nn.Module, inputs: tuple, output: Any) -> None:
        out = output[0] if isinstance(output, (tuple, list)) else output
        if self.transform is not None:
            out = self.transform(out)
        out = out.detach() if self.detach else out
        if self.accumulate:
            self._captured.setdefault(name, []).append(out)
        else:
            self._captured[name] = [out]

    def ordered(self) -> list[Tensor]:
        """The captured features in the order of ``names``.

        Raises:
            RuntimeError: if a named layer did not run during the forward pass.
        """
        missing = [n for n in self.names if n not in self._captured]
        if missing:
            raise RuntimeError(f"Layers {missing} did not run during the forward pass")
        features = self.features
        return [features[n] for n in self.names]
