"""Channel groups: the parameter slices that belong to one hidden channel of a model.

Structured pruning removes whole channels, and one hidden channel lives in several tensors at
once: the rows of the layers that produce it, the columns of the layers that read it, the gate
blocks of a recurrent cell. A :class:`ChannelGroup` lists them all, so importance is summed per
channel (paper Eq. 14) and a pruned model is cut consistently.

A model takes part in pygkd's structured pruning by one of three ways:

- it defines ``channel_groups()`` and ``resized(sizes)`` (:class:`ChannelPrunable`: the
  zoo's recurrent forecasters do);
- it is an :class:`~pygkd.nn.STGCN` (its groups also carry LayerNorms and residual
  alignments: :func:`pygkd.nn.models.stgcn_channels.stgcn_channel_groups`);
- anything else is traced (:func:`pygkd.prune.trace_channel_groups`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

__all__ = ["Slice", "ChannelGroup", "ChannelPrunable", "slice_state", "zero_pruned"]


@dataclass(frozen=True)
class Slice:
    """Channel ``k`` of the group is index ``offset + k`` along ``dim`` of parameter ``param``."""

    param: str
    dim: int
    offset: int = 0


@dataclass
class ChannelGroup:
    """One prunable hidden layer: its name, width and the slices of each of its channels."""

    name: str
    size: int
    slices: list[Slice] = field(default_factory=list)
    #: modules whose outputs carry these channels (masked in the masked model)
    activations: list[str] = field(default_factory=list)
    #: layers that read these channels (their input columns are in ``slices``)
    readers: list[str] = field(default_factory=list)
    #: LayerNorms over ``[N, C]`` of these channels
    norms: list[str] = field(default_factory=list)
    #: residual alignments ``(module, side)`` with ``side`` "in" or "out" in this group
    aligns: list[tuple[str, str]] = field(default_factory=list)


@runtime_checkable
class ChannelPrunable(Protocol):
    """A model that names its channel groups and builds a copy of itself with fewer channels.

    The contract: zeroing every slice of a channel (:func:`zero_pruned`) removes the channel's
    contribution to the output, so the masked model and the :meth:`resized` one loaded with the
    kept slices (:func:`slice_state`) compute the same function.
    """

    def channel_groups(self) -> list[ChannelGroup]:
        ...

    def resized(self, sizes: Mapping[str, int]) -> nn.Module:
        """A new, untrained model of the same family whose group ``g`` has ``sizes[g]``
        channels."""
        ...


def _plans(groups: list[ChannelGroup]) -> dict[str, dict[int, list[tuple[int, str]]]]:
    plans: dict[str, dict[int, list[tuple[int, str]]]] = {}
    for g in groups:
        for s in g.slices:
            plans.setdefault(s.param, {}).setdefault(s.dim, []).append((s.offset, g.name))
    return plans


def slice_state(state: Mapping[str, Tensor], groups: list[ChannelGroup],
                keep: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` with every parameter cut to the kept channels of each group.

    A parameter sliced along one dim by several blocks (a GRU's three gates: offsets
    ``0, H, 2H``) keeps, in order, the kept channels of every block.

    Example:
        >>> g = ChannelGroup("h", 2, [Slice("w", 0), Slice("w", 0, 2)])
        >>> state = {"w": torch.arange(4.0)}
        >>> slice_state(state, [g], {"h": torch.tensor([False, True])})["w"].tolist()
        [1.0, 3.0]
    """
    out = dict(state)
    kept = {name: torch.nonzero(k).flatten() for name, k in keep.items()}
    for param, dims in _plans(groups).items():
        tensor = out[param]
        for dim, parts in dims.items():
            index = torch.cat([offset + kept[name].to(tensor.device)
                               for offset, name in sorted(parts)])
            tensor = tensor.index_select(dim, index)
        out[param] = tensor
    return out


@torch.no_grad()
def zero_pruned(model: nn.Module, groups: list[ChannelGroup],
                keep: Mapping[str, Tensor]) -> None:
    """Zero, in place, every slice of the channels ``keep`` turns off."""
    params = dict(model.named_parameters())
    for g in groups:
        off = torch.nonzero(~keep[g.name]).flatten()
        if off.numel() == 0:
            continue
        for s in g.slices:
            p = params[s.param]
            p.index_fill_(s.dim, (s.offset + off).to(p.device), 0.0)
