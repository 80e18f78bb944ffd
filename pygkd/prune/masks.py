"""Pruning masks: per-weight (unstructured) and per-channel (structured) with export.

:class:`ChannelMasks` turns channels off in the full model (the *masked model*: their
activations are zero and LayerNorms normalise over the kept channels only) and exports the
*physically smaller* STGCN that computes the same function. :class:`WeightMasks` keeps chosen
weights at zero (the paper's masks; only the count of nonzero weights shrinks).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from pygkd.nn.channels import ChannelGroup
from pygkd.nn.layers import ChannelAlign
from pygkd.nn.models.stgcn import STGCN
from pygkd.nn.models.stgcn_channels import stgcn_channel_groups

__all__ = ["ChannelKeep", "ChannelMasks", "WeightMasks", "prunable_parameters"]


def _lowest(scores: Tensor, alive: Tensor, share: float, keep_min: int = 1) -> Tensor:
    """Indices (on ``alive``'s device) of the ``ceil(share * alive)`` lowest-scoring alive
    entries (keeping ``keep_min``); ``scores`` may live on another device."""
    n_alive = int(alive.sum())
    count = min(math.ceil(share * n_alive), n_alive - keep_min)
    if count <= 0:
        return torch.zeros(0, dtype=torch.long, device=alive.device)
    scores = scores.double()
    masked = torch.where(alive.to(scores.device), scores, torch.full_like(scores, float("inf")))
    return torch.argsort(masked.flatten(), stable=True)[:count].to(alive.device)


class ChannelKeep:
    """Which channels of each group are kept (``keep[group]``: a bool per channel), and the
    pruning step on them; :class:`ChannelMasks` and
    :class:`~pygkd.prune.group_masks.GroupMasks` differ in how the masked model runs."""

    groups: list[ChannelGroup]
    keep: dict[str, Tensor]

    def sizes(self) -> dict[str, int]:
        return {name: int(k.sum()) for name, k in self.keep.items()}

    def prune(self, scores: dict[str, Tensor], share: float) -> dict[str, int]:
        """In every group, turn off ``ceil(share * alive)`` lowest-scoring alive channels
        (always keeping one). Returns how many were removed per group."""
        removed = {}
        for g in self.groups:
            idx = _lowest(scores[g.name], self.keep[g.name], share)
            self.keep[g.name][idx] = False
            removed[g.name] = int(idx.numel())
        return removed

    def state(self) -> dict[str, Tensor]:
        """A copy of the channel masks, for :meth:`restore`."""
        return {name: k.clone() for name, k in self.keep.items()}

    def restore(self, state: dict[str, Tensor]) -> None:
        """Put back the masks saved by :meth:`state`."""
        for name, k in state.items():
            self.keep[name].copy_(k)

    def kept_indices(self) -> dict[str, list[int]]:
        """The original indices of the channels each group kept (the found architecture)."""
        return {name: torch.nonzero(k).flatten().tolist() for name, k in self.keep.items()}


class ChannelMasks(ChannelKeep):
    """Channel masks over an STGCN's groups (:func:`~pygkd.prune.groups.stgcn_channel_groups`).

    Use as a context manager (or :meth:`attach` / :meth:`detach`) to run the masked model.

    Example:
        >>> from pygkd.testing import toy_graph
        >>> model = STGCN(5, [[1, 4, 8], [8, 4, 8]])
        >>> masks = ChannelMasks(model)
        >>> masks.keep["blocks.0.hidden"][:2] = False
        >>> small = masks.export()
        >>> small.block_channels
        [[1, 2, 8], [8, 4, 8]]
    """

    def __init__(self, model: STGCN) -> None:
        self.model = model
        self.groups: list[ChannelGroup] = stgcn_channel_groups(model)
        self.keep: dict[str, Tensor] = {g.name: torch.ones(g.size, dtype=torch.bool)
                                        for g in self.groups}
        self._handles: list[RemovableHandle] = []

    # ----------------------------------------------------------------- masked model
    def _mask(self, name: str, like: Tensor) -> Tensor:
        return self.keep[name].to(device=like.device, dtype=like.dtype)

    def attach(self) -> ChannelMasks:
        self.detach()
        for g in self.groups:
            for path in g.activations:
                module = self.model.get_submodule(path)
                self._handles.append(module.register_forward_hook(self._activation_hook(g.name)))
            for path in g.norms:
                module = self.model.get_submodule(path)
                self._handles.append(module.register_forward_hook(self._norm_hook(g.name)))
        return self

    def detach(self) -> None:
        while self._handles:
            self._handles.pop().remove()

    def __enter__(self) -> ChannelMasks:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def _activation_hook(self, name: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output: Tensor) -> Tensor:
            return output * self._mask(name, output)

        return hook

    def _norm_hook(self, name: str) -> Callable:
        def hook(module: nn.LayerNorm, inputs: tuple, output: Tensor) -> Tensor:
            x = inputs[0]
            keep = self.keep[name].to(x.device)
            kept = x[..., keep]
            mean = kept.mean(dim=(-2, -1), keepdim=True)
            var = kept.var(dim=(-2, -1), unbiased=False, keepdim=True)
            y = (x - mean) / torch.sqrt(var + module.eps) * module.weight + module.bias
            return y * self._mask(name, y)

        return hook

    # ----------------------------------------------------------------- export
    def _align_sides(self) -> dict[str, dict[str, str]]:
        sides: dict[str, dict[str, str]] = {}
        for g in self.groups:
            for path, side in g.aligns:
                sides.setdefault(path, {})[side] = g.name
        return sides

    def export(self) -> STGCN:
        """The physically smaller STGCN equal to the masked model (weights copied; on the CPU,
        in the model's dtype)."""
        m = self.model
        sizes = self.sizes()
        blocks = []
        for i in range(len(m.blocks)):
            c_in = m.block_channels[0][0] if i == 0 else sizes[f"blocks.{i - 1}.out"]
            blocks.append([c_in, sizes[f"blocks.{i}.hidden"], sizes[f"blocks.{i}.out"]])
        keep_idx = {name: torch.nonzero(k).flatten() for name, k in self.keep.items()}
        residuals = {}
        sides = self._align_sides()
        for path, module in m.named_modules():
            if not isinstance(module, ChannelAlign):
                continue
            side = sides.get(path, {})
            k_in = keep_idx[side["in"]] if "in" in side else torch.arange(module.in_channels)
            k_out = keep_idx[side["out"]] if "out" in side else torch.arange(module.out_channels)
            if module.proj is not None:
                residuals[path] = {"mode": "proj"}
                continue
            new_in = {int(a): j for j, a in enumerate(k_in)}
            new_out = {int(b): j for j, b in enumerate(k_out)}
            residuals[path] = {"mode": "select", "pairs": [
                [new_in[a], new_out[b]] for a, b in module.pairs if a in new_in and b in new_out]}
        small = STGCN(m.num_nodes, blocks, n_in=m.n_in, kernel_size=m.kernel_size, K=m.K,
                      dropout=m.dropout_p, normalization=m.normalization, residuals=residuals)
        small = STGCN.from_config(small.config())  # keep only the non-default residuals
        small = small.to(next(m.parameters()).dtype)
        state = {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()}
        plans: dict[str, dict[int, list[tuple[int, str]]]] = {}
        for g in self.groups:
            for s in g.slices:
                plans.setdefault(s.param, {}).setdefault(s.dim, []).append((s.offset, g.name))
        for param, dims in plans.items():
            tensor = state[param]
            for dim, parts in dims.items():
                index = torch.cat([offset + keep_idx[name] for offset, name in sorted(parts)])
                tensor = tensor.index_select(dim, index)
            state[param] = tensor
        small.load_state_dict(state)
        return small


def prunable_parameters(model: nn.Module) -> list[str]:
    """Parameters of the hidden layers: everything but the output readout ``output.fc``."""
    return [name for name, _ in model.named_parameters() if not name.startswith("output.fc.")]


class WeightMasks:
    """Per-weight masks on the hidden layers; masked weights are kept at zero by :meth:`apply`.

    Example:
        >>> lin = nn.Linear(2, 2, bias=False)
        >>> masks = WeightMasks(lin, ["weight"])
        >>> _ = masks.prune({"weight": torch.tensor([[1.0, 4.0], [3.0, 2.0]])}, share=0.5)
        >>> masks.masks["weight"].tolist()
        [[False, True], [True, False]]
    """

    def __init__(self, model: nn.Module, names: list[str] | None = None) -> None:
        self.model = model
        params = dict(model.named_parameters())
        self.names = names if names is not None else prunable_parameters(model)
        self.masks = {n: torch.ones_like(params[n], dtype=torch.bool) for n in self.names}

    @torch.no_grad()
    def apply(self) -> None:
        params = dict(self.model.named_parameters())
        for name, mask in self.masks.items():
            params[name].mul_(mask.to(params[name].device, params[name].dtype))

    def prune(self, scores: dict[str, Tensor], share: float) -> dict[str, int]:
        """In every hidden layer (parameter tensor), zero the ``ceil(share * remaining)``
        lowest-scoring remaining weights (Algorithm 1, lines 16-20)."""
        removed = {}
        for name, mask in self.masks.items():
            idx = _lowest(scores[name], mask, share, keep_min=0)
            mask.view(-1)[idx] = False
            removed[name] = int(idx.numel())
        self.apply()
        return removed

    def state(self) -> dict[str, Tensor]:
        """A copy of the masks and of the masked weights (pruning zeroes them), for
        :meth:`restore`."""
        params = dict(self.model.named_parameters())
        saved = {f"mask:{n}": m.clone() for n, m in self.masks.items()}
        saved.update({f"weight:{n}": params[n].detach().clone() for n in self.names})
        return saved

    @torch.no_grad()
    def restore(self, state: dict[str, Tensor]) -> None:
        """Put back the masks and weights saved by :meth:`state`."""
        params = dict(self.model.named_parameters())
        for n in self.names:
            self.masks[n].copy_(state[f"mask:{n}"])
            params[n].copy_(state[f"weight:{n}"])

    def nonzero_parameters(self) -> int:
        return int(sum(int((p != 0).sum()) for p in self.model.parameters()))
