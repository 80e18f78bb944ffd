"""Channel masks over any model's channel groups, by zeroing weights.

For a model that names its groups (:class:`~pygkd.nn.channels.ChannelPrunable`: the zoo's
recurrent forecasters) or whose groups were traced (:func:`~pygkd.prune.trace_channel_groups`),
a pruned channel is every slice of it set to zero: its producers give a constant, its readers
ignore it, so the masked model computes what the physically smaller one (:meth:`export`) does.
While attached, the zeros are put back before every forward pass (an optimiser step may move
them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from pygkd.nn.channels import ChannelGroup, slice_state, zero_pruned
from pygkd.prune.masks import ChannelKeep

__all__ = ["GroupMasks"]


class GroupMasks(ChannelKeep):
    """Channel masks over ``groups`` of ``model``, with export.

    Args:
        model (nn.Module): the model being pruned (the masked model).
        groups (list[ChannelGroup]): its channel groups.
        rebuild (callable, optional): ``sizes -> model`` building an untrained model of the
            smaller widths (``model.resized``); without it, :meth:`export` cuts a copy of
            ``model`` layer by layer (:func:`~pygkd.prune.trace.export_traced`).

    Example:
        >>> from pygkd.nn.models import build_forecaster
        >>> model = build_forecaster("gconvgru", num_nodes=3, hidden=8)
        >>> masks = GroupMasks(model, model.channel_groups(), model.resized)
        >>> masks.keep["hidden"][:5] = False
        >>> masks.export().hidden
        3
    """

    def __init__(self, model: nn.Module, groups: list[ChannelGroup],
                 rebuild: Callable[[Mapping[str, int]], nn.Module] | None = None) -> None:
        self.model, self.groups, self.rebuild = model, groups, rebuild
        self.keep: dict[str, Tensor] = {g.name: torch.ones(g.size, dtype=torch.bool)
                                        for g in groups}
        self._handle: RemovableHandle | None = None

    def apply(self) -> None:
        """Zero the slices of the pruned channels (in place)."""
        zero_pruned(self.model, self.groups, self.keep)

    def attach(self) -> GroupMasks:
        self.detach()
        self._handle = self.model.register_forward_pre_hook(lambda module, args: self.apply())
        self.apply()
        return self

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def __enter__(self) -> GroupMasks:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def prune(self, scores: dict[str, Tensor], share: float) -> dict[str, int]:
        """:meth:`ChannelKeep.prune`, then the pruned slices zeroed."""
        removed = super().prune(scores, share)
        self.apply()
        return removed

    def remaining_parameters(self) -> int:
        """Parameters of the exported model, counted without building it."""
        cut: dict[tuple[str, int], int] = {}  # (parameter, dim) -> channels removed there
        for g in self.groups:
            removed = g.size - int(self.keep[g.name].sum())
            for s in g.slices:
                cut[(s.param, s.dim)] = cut.get((s.param, s.dim), 0) + removed
        total = 0
        for name, p in self.model.named_parameters():
            shape = list(p.shape)
            for (param, dim), removed in cut.items():
                if param == name:
                    shape[dim] -= removed
            total += math.prod(shape)
        return total

    def export(self) -> nn.Module:
        """The physically smaller model equal to the masked one (weights copied, on the CPU,
        in the model's dtype)."""
        if self.rebuild is None:
            from pygkd.prune.trace import export_traced

            return export_traced(self.model, self.groups, self.keep).cpu()
        param = next(self.model.parameters())
        small = self.rebuild(self.sizes()).to(param.dtype)
        state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        small.load_state_dict(slice_state(state, self.groups, self.keep))
        return small
