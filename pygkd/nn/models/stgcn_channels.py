"""Channel groups of an STGCN: every parameter slice that belongs to one hidden channel.

In STGCN one channel of a hidden layer appears in several tensors at once: the GLU convolution
that makes it (both halves, ``P`` and ``Q``), the residual alignment, the Chebyshev weight
matrices (rows and columns: its input and output are the same layer), the LayerNorm ``[N, C]``
columns, and the convolutions that read it.

Groups (``B`` blocks): ``blocks.i.hidden`` (the ``c_t`` channels of block ``i``) and
``blocks.i.out`` (its ``c_out`` channels; the last one also spans the output block, whose
width must equal it). The raw input channel and the readout are never pruned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pygkd.nn.channels import ChannelGroup, Slice

if TYPE_CHECKING:
    from pygkd.nn.models.stgcn import STGCN

__all__ = ["stgcn_channel_groups"]


def _conv(prefix: str, produce: bool, gated: bool, size: int) -> list[Slice]:
    if produce:
        out = [Slice(f"{prefix}.conv.weight", 0), Slice(f"{prefix}.conv.bias", 0)]
        if gated:
            out += [Slice(f"{prefix}.conv.weight", 0, size), Slice(f"{prefix}.conv.bias", 0, size)]
        return out
    return [Slice(f"{prefix}.conv.weight", 1)]


def _align(model: STGCN, path: str, side: str) -> list[Slice]:
    module = model.get_submodule(path)
    if module.proj is not None:
        return [Slice(f"{path}.proj.weight", 0 if side == "out" else 1)]
    return []


def stgcn_channel_groups(model: STGCN) -> list[ChannelGroup]:
    """The prunable channel groups of ``model``, in order."""
    groups: list[ChannelGroup] = []
    last = len(model.blocks) - 1
    for i, (_, c_t, c_out) in enumerate(model.block_channels):
        b = f"blocks.{i}"
        hidden = ChannelGroup(f"{b}.hidden", c_t)
        hidden.slices += _conv(f"{b}.temporal1", True, True, c_t)
        hidden.slices += _align(model, f"{b}.temporal1.align", "out")
        for k in range(model.K):
            hidden.slices += [Slice(f"{b}.spatial.cheb.lins.{k}.weight", 0),
                              Slice(f"{b}.spatial.cheb.lins.{k}.weight", 1)]
        hidden.slices.append(Slice(f"{b}.spatial.cheb.bias", 0))
        hidden.slices += _conv(f"{b}.temporal2", False, False, c_t)
        hidden.slices += _align(model, f"{b}.temporal2.align", "in")
        hidden.activations += [f"{b}.temporal1", f"{b}.spatial"]
        hidden.aligns += [(f"{b}.temporal1.align", "out"), (f"{b}.spatial.align", "in"),
                          (f"{b}.spatial.align", "out"), (f"{b}.temporal2.align", "in")]
        groups.append(hidden)

        out = ChannelGroup(f"{b}.out", c_out)
        out.slices += _conv(f"{b}.temporal2", True, False, c_out)
        out.slices += _align(model, f"{b}.temporal2.align", "out")
        out.slices += [Slice(f"{b}.norm.weight", 1), Slice(f"{b}.norm.bias", 1)]
        out.activations.append(f"{b}.temporal2")
        out.norms.append(f"{b}.norm")
        out.aligns.append((f"{b}.temporal2.align", "out"))
        if i < last:
            nxt = f"blocks.{i + 1}.temporal1"
            out.slices += _conv(nxt, False, True, c_out)
            out.slices += _align(model, f"{nxt}.align", "in")
            out.aligns.append((f"{nxt}.align", "in"))
        else:
            out.slices += _conv("output.temporal", True, True, c_out)
            out.slices += _conv("output.temporal", False, True, c_out)
            out.slices += [Slice("output.norm.weight", 1), Slice("output.norm.bias", 1)]
            out.slices += _conv("output.conv", True, False, c_out)
            out.slices += _conv("output.conv", False, False, c_out)
            out.slices.append(Slice("output.fc.weight", 0))
            out.activations += ["output.temporal", "output.conv"]
            out.norms.append("output.norm")
            out.aligns += [("output.temporal.align", "in"), ("output.temporal.align", "out")]
        groups.append(out)
    return groups
