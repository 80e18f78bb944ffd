r"""Temporal convolutions of STGCN (Yu et al. 2018), channel-last ``[B, T, N, C]`` in and out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pygkd.nn.layers.timeconv import time_conv

__all__ = ["ChannelAlign", "TemporalGatedConv", "TemporalConv"]


class ChannelAlign(nn.Module):
    r"""Residual alignment of STGCN: bring ``c_in`` channels to ``c_out`` (paper Sec. 3.1).

    By default, a 1x1 convolution **without bias** if ``c_in > c_out`` (``c_in * c_out``
    parameters), zero-padding of channels if ``c_in < c_out``, identity otherwise. Structured
    pruning keeps a pruned model's residuals exact with the two general forms: ``mode="proj"``
    (a 1x1 convolution whatever the sizes) and ``mode="select"`` with ``pairs`` of
    ``(input channel, output channel)`` copied, all other output channels zero (padding and
    identity are the special case ``pairs = [(k, k) for k < min(c_in, c_out)]``).

    Shapes:
        - **input:** :math:`(B, T, N, C_{in})`
        - **output:** :math:`(B, T, N, C_{out})`

    Example:
        >>> ChannelAlign(2, 4)(torch.ones(1, 3, 5, 2))[0, 0, 0].tolist()
        [1.0, 1.0, 0.0, 0.0]
        >>> x = torch.tensor([1.0, 2.0]).view(1, 1, 1, 2)
        >>> ChannelAlign(2, 3, mode="select", pairs=[[1, 0]])(x)[0, 0, 0].tolist()
        [2.0, 0.0, 0.0]
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str | None = None,
                 pairs: Sequence[Sequence[int]] | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.mode = mode or ("proj" if in_channels > out_channels else "select")
        if self.mode not in ("proj", "select"):
            raise ValueError(f"Expected mode 'proj' or 'select' (got {mode!r})")
        if self.mode == "proj":
            self.proj = nn.Linear(in_channels, out_channels, bias=False)
        else:
            self.register_parameter("proj", None)
        default = [[k, k] for k in range(min(in_channels, out_channels))]
        self.pairs = [[int(a), int(b)] for a, b in (pairs if pairs is not None else default)]
        for a, b in self.pairs:
            if not (0 <= a < in_channels and 0 <= b < out_channels):
                raise ValueError(f"Residual pair {(a, b)} outside {in_channels} -> {out_channels}")
        self.is_default = self.mode == ("proj" if in_channels > out_channels else "select") and (
            self.pairs == default or self.mode == "proj")
        self._prefix = self.pairs == default
        self.register_buffer("src", torch.tensor([a for a, _ in self.pairs], dtype=torch.long),
                             persistent=False)
        self.register_buffer("dst", torch.tensor([b for _, b in self.pairs], dtype=torch.long),
                             persistent=False)
        selection = torch.zeros(out_channels, in_channels)
        for a, b in self.pairs:
            selection[b, a] = 1.0
        # the selection as a matrix, a constant (exports fold it into the convolution's kernel)
        self.register_buffer("selection", selection, persistent=False)

    def reset_parameters(self) -> None:
        if self.proj is not None:
            self.proj.reset_parameters()

    def spec(self) -> dict[str, Any]:
        """``{"mode": ..., "pairs": ...}``, enough to rebuild this alignment."""
        return {"mode": self.mode, "pairs": [list(p) for p in self.pairs]}

    def matrix(self, like: Tensor) -> Tensor:
        """This alignment as a ``[c_out, c_in]`` matrix (``like``'s dtype and device): the
        projection's weight, else ones at the copied ``(output, input)`` pairs."""
        if self.proj is not None:
            return self.proj.weight.to(like.dtype)
        return self.selection.to(device=like.device, dtype=like.dtype)

    def forward(self, x: Tensor) -> Tensor:
        if self.proj is not None:
            return self.proj(x)
        if self._prefix:
            if self.in_channels == self.out_channels:
                return x
            if self.in_channels < self.out_channels:
                return F.pad(x, (0, self.out_channels - self.in_channels))
            return x[..., : self.out_channels]
        out = x.new_zeros(*x.shape[:-1], self.out_channels)
        out[..., self.dst] = x[..., self.src]
        return out

    def extra_repr(self) -> str:
        extra = "" if self.is_default else f", mode={self.mode}"
        return f"{self.in_channels}, {self.out_channels}{extra}"


class _TemporalConvBase(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gated: bool,
                 bias: bool = True) -> None:
        super().__init__()
        if kernel_size < 1:
            raise ValueError(f"Expected kernel_size >= 1 (got {kernel_size})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = kernel_size
        width = 2 * out_channels if gated else out_channels
        self.conv = nn.Conv2d(in_channels, width, (kernel_size, 1), bias=bias)

    def reset_parameters(self) -> None:
        """Re-initialise the convolution and the residual alignment (PyG convention)."""
        self.conv.reset_parameters()
        align = getattr(self, "align", None)
        if align is not None:
            align.reset_parameters()

    def _conv(self, x: Tensor, align: ChannelAlign | None = None) -> Tensor:
        """The convolution along time, ``[B, T, N, C]`` -> ``[B, T', N, W]``, with ``align``'s
        residual added to the first ``c_out`` output channels.

        The residual is linear in the input at the last tap, so it is folded into the kernel
        (``W[:c_out, :, Kt - 1] += align``, a ``[W, C, Kt]`` sum per call) instead of being
        sliced, padded and added to the activations: the same function and gradients for the
        parameters (``conv.weight``, ``align.proj.weight``), with no ``[B, T', N, C]``
        temporaries. The channel-last input is the convolution's ``channels_last`` memory
        format (``permute``, no copy); measured against a time-unfolded GEMM and a sum of
        ``Kt`` shifted GEMMs, oneDNN's convolution was the fastest forward and backward.
        """
        if x.dim() != 4 or x.size(-1) != self.in_channels:
            raise ValueError(
                f"Expected 'x' as [batch, time, nodes, {self.in_channels}] (got {tuple(x.shape)})"
            )
        if x.size(1) < self.kernel_size:
            raise ValueError(
                f"Expected at least {self.kernel_size} time steps (got {x.size(1)})"
            )
        weight = self.conv.weight
        if align is not None:
            tap = align.matrix(weight)[:, :, None, None]  # [c_out, c_in, 1, 1]
            weight = weight + F.pad(tap, (0, 0, self.kernel_size - 1, 0, 0, 0,
                                          0, weight.size(0) - tap.size(0)))
        # [B, T, N, C] -> [B, C, T, N] (channels_last, a view) -> conv along T -> [B, T', N, W]
        return time_conv(x.permute(0, 3, 1, 2), weight, self.conv.bias).permute(0, 2, 3, 1)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"


class TemporalGatedConv(_TemporalConvBase):
    r"""Gated temporal convolution with a GLU and an aligned residual (STGCN, paper Sec. 3.1).

    .. math::
        [P, Q] = \mathrm{Conv}_{K_t \times 1}(X), \qquad
        Y = (P + \mathrm{align}(X)_{[K_t-1:]}) \odot \sigma(Q)

    ``Kt * c_in * 2 * c_out + 2 * c_out`` parameters, plus ``c_in * c_out`` for the residual
    projection when ``c_in > c_out``.

    Args:
        in_channels (int): :math:`C_{in}`.
        out_channels (int): :math:`C_{out}`.
        kernel_size (int): :math:`K_t` along time (default: ``3``).

    Shapes:
        - **input:** :math:`(B, T, N, C_{in})`
        - **output:** :math:`(B, T - K_t + 1, N, C_{out})`

    Example:
        >>> TemporalGatedConv(1, 4)(torch.randn(2, 12, 5, 1)).shape
        torch.Size([2, 10, 5, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, gated=True, bias=bias)
        self.align = ChannelAlign(in_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        # [P + align(X), Q] in one convolution, then the GLU in one kernel
        return F.glu(self._conv(x, self.align), dim=-1)


class TemporalConv(_TemporalConvBase):
    r"""Temporal convolution with an activation, optionally with STGCN's aligned residual.

    .. math::
        Y = \mathrm{act}(\mathrm{Conv}_{K_t \times 1}(X) + \mathrm{align}(X)_{[K_t-1:]})

    Args:
        in_channels (int): :math:`C_{in}`.
        out_channels (int): :math:`C_{out}`.
        kernel_size (int): :math:`K_t` (default: ``3``).
        activation (str): ``"relu"`` | ``"sigmoid"`` | ``"linear"`` (default: ``"relu"``).
        residual (bool): add the aligned input (default: ``True``; STGCN's output block uses a
            1x1 sigmoid convolution without it).

    Shapes:
        - **input:** :math:`(B, T, N, C_{in})`
        - **output:** :math:`(B, T - K_t + 1, N, C_{out})`

    Example:
        >>> TemporalConv(2, 8)(torch.randn(2, 10, 5, 2)).shape
        torch.Size([2, 8, 5, 8])
    """

    _ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "linear": lambda x: x}

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 activation: str = "relu", residual: bool = True, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, gated=False, bias=bias)
        if activation not in self._ACTIVATIONS:
            raise KeyError(
                f"Unknown activation {activation!r} (choose from: {', '.join(self._ACTIVATIONS)})"
            )
        self.activation = activation
        self.align = ChannelAlign(in_channels, out_channels) if residual else None

    def forward(self, x: Tensor) -> Tensor:
        return self._ACTIVATIONS[self.activation](self._conv(x, self.align))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={self.activation}"
