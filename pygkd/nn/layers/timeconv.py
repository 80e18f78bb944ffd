r"""STGCN's ``Kt x 1`` convolution along time with its weight gradient as one matrix product.

A temporal convolution of channel-last features ``[B, T, N, C]`` runs as oneDNN's convolution
over the ``channels_last`` view ``[B, C, T, N]``; oneDNN computes its forward and its input
gradient at about the speed of its matrix product, but its weight gradient (a reduction over
all ``B * T' * N`` output rows into a small ``[W, C, Kt]`` kernel) at about half of it.
:class:`TimeConv` keeps oneDNN's forward and input gradient and computes the weight and bias
gradients as one product (``pygkd::time_conv_weight_grad``):

.. math::
    \left[\frac{\partial L}{\partial W_{:, :, 0}}, \dots,
    \frac{\partial L}{\partial W_{:, :, K_t - 1}}, \frac{\partial L}{\partial b}\right]
    = G^\top \, [X_0, \dots, X_{K_t - 1}, \mathbf{1}]

with :math:`G` the output gradient as rows ``[B T' N, W]`` and :math:`X_k` the input rows
shifted by ``k`` steps. The right-hand side is unfolded a few windows at a time into a buffer
that stays in cache (:data:`UNFOLD_BYTES`), and each group's product is oneDNN's matrix product
(``torch.ops.mkldnn._linear_pointwise``, float32, where PyTorch has it) or ``torch.mm``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from pygkd.nn.layers.onednn import onednn_matmul
from pygkd.nn.layers.tracing import traced

__all__ = ["TimeConv", "time_conv", "weight_gemm", "takes_weight_gemm", "UNFOLD_BYTES",
           "WEIGHT_GEMM_WIDTH"]

#: Bytes of time-unfolded rows multiplied at once by the weight gradient (whole windows, at
#: least one): a group stays in the 1-2 MB cache of one core while it is written and read.
UNFOLD_BYTES = 2**21

#: Kernels with at least this many output channels take :class:`TimeConv` (the weight gradient
#: forward and backward of one layer, 1 thread): 1.2-4.7x faster at 64-256 channels (228 and
#: 8,600 sensors), slower for narrower kernels (0.3-0.8x at 4-32 channels, the students').
WEIGHT_GEMM_WIDTH = 64

_ENABLED = ContextVar("pygkd_weight_gemm", default=True)


@contextmanager
def weight_gemm(enabled: bool) -> Iterator[None]:
    """Within this context, temporal convolutions take :class:`TimeConv` (where
    :func:`takes_weight_gemm` says so) only if ``enabled`` (``False``: oneDNN's convolution
    backward everywhere, e.g. to time one against the other)."""
    token = _ENABLED.set(bool(enabled))
    try:
        yield
    finally:
        _ENABLED.reset(token)


def _product_tn(grad: Tensor, rows: Tensor, swap: bool) -> Tensor:
    """``grad.T @ rows`` (``[R, W]``, ``[R, K]`` -> ``[W, K]``), or ``rows.T @ grad`` (``[K, W]``)
    if ``swap``: oneDNN's product in float32 on the CPU (it reads the transposed operands in
    place), else ``torch.mm``."""
    first, second = (rows, grad) if swap else (grad, rows)
    matmul = onednn_matmul() if grad.dtype == torch.float32 and grad.device.type == "cpu" \
        else None
    if matmul is not None:
        return matmul(first.t(), second.t(), None, "none", [], "")
    return torch.mm(first.t(), second)


@torch.library.custom_op("pygkd::time_conv_weight_grad", mutates_args=())
def time_conv_weight_grad(x: Tensor, grad: Tensor, kernel_size: int, bias: bool) -> Tensor:
    """``G^T [X_0, ..., X_{Kt-1}(, 1)]``: the weight (and bias) gradient of a ``Kt x 1``
    convolution along time of ``x`` ``[B, T, N, C]`` with output gradient ``grad``
    ``[B, T - Kt + 1, N, W]``. Returns ``[W, Kt * C (+ 1)]``, taps major, the bias last."""
    b, t, n, c = x.shape
    steps, width = t - kernel_size + 1, grad.size(-1)
    x, grad = x.contiguous(), grad.contiguous()
    cols = kernel_size * c + int(bias)
    window = steps * n * cols * x.element_size()
    group = max(1, min(b, UNFOLD_BYTES // max(window, 1)))
    buffer = x.new_empty(group, steps, n, cols)
    if bias:
        buffer[..., -1] = 1.0
    # oneDNN ran the narrower side as the product's rows faster (1x1 to 4x, measured)
    swap = cols < width
    out: Tensor | None = None
    for start in range(0, b, group):
        stop = min(b, start + group)
        rows = buffer[: stop - start]
        for k in range(kernel_size):
            rows[..., k * c:(k + 1) * c].copy_(x[start:stop, k:k + steps])
        part = _product_tn(grad[start:stop].reshape(-1, width), rows.reshape(-1, cols), swap)
        out = part if out is None else out.add_(part)
    assert out is not None
    return out.t().contiguous() if swap else out


@time_conv_weight_grad.register_fake
def _weight_grad_fake(x, grad, kernel_size, bias):  # type: ignore[no-untyped-def]
    return x.new_empty(grad.size(-1), kernel_size * x.size(-1) + int(bias))


def _weight_grad_flops(x_shape, grad_shape, kernel_size, bias, out_shape=None,  # type: ignore[no-untyped-def]
                       **kwargs) -> int:
    # the weight's product only, as FlopCounterMode counts a convolution's weight gradient
    rows = int(grad_shape[0]) * int(grad_shape[1]) * int(grad_shape[2])
    return 2 * rows * int(grad_shape[3]) * int(kernel_size) * int(x_shape[3])


try:  # count the product in torch.utils.flop_counter
    from torch.utils.flop_counter import register_flop_formula

    register_flop_formula(torch.ops.pygkd.time_conv_weight_grad)(_weight_grad_flops)
except Exception:  # pragma: no cover - older torch without the public hook
    pass


class TimeConv(torch.autograd.Function):
    r"""``F.conv2d(x, weight, bias)`` for a ``[W, C, Kt, 1]`` kernel on the ``channels_last``
    view ``x`` ``[B, C, T, N]``, with the weight and bias gradients of
    ``pygkd::time_conv_weight_grad`` (see the module); the input gradient is oneDNN's. Under a
    double backward (``create_graph=True``) the backward is ``aten.convolution_backward``,
    which is differentiable.

    Shapes:
        - **x:** :math:`(B, C, T, N)` (a permuted ``[B, T, N, C]``)
        - **output:** :math:`(B, W, T - K_t + 1, N)`
    """

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:  # type: ignore[override]
        """oneDNN's convolution ``[B, C, T, N]`` -> ``[B, W, T', N]``."""
        return F.conv2d(x, weight, bias)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        """Keep the input and the kernel for the backward (as the convolution does)."""
        x, weight, bias = inputs
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        """Gradients of the input (oneDNN), the kernel and the bias (one product) for the
        output gradient ``grad`` ``[B, W, T', N]``."""
        x, weight = ctx.saved_tensors
        want_x, want_w, want_b = ctx.needs_input_grad
        want_b = want_b and ctx.has_bias
        if torch.is_grad_enabled():  # double backward: the differentiable formula
            gx, gw, gb = torch.ops.aten.convolution_backward(
                grad, x, weight, [weight.size(0)] if ctx.has_bias else None, [1, 1], [0, 0],
                [1, 1], False, [0, 0], 1, [want_x, want_w, want_b])
            return gx, gw, gb
        gx = gw = gb = None
        if want_x:
            gx = torch.ops.aten.convolution_backward(
                grad, x, weight, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
                [True, False, False])[0]
        if want_w or want_b:
            width, c, kt = weight.size(0), weight.size(1), weight.size(2)
            both = time_conv_weight_grad(x.permute(0, 2, 3, 1), grad.permute(0, 2, 3, 1), kt,
                                         ctx.has_bias)
            if want_w:
                gw = both[:, : kt * c].view(width, kt, c).permute(0, 2, 1).unsqueeze(-1)
                gw = gw.contiguous()
            if want_b:
                gb = both[:, -1].contiguous()
        return gx, gw, gb


def takes_weight_gemm(x: Tensor, weight: Tensor) -> bool:
    """Whether :func:`time_conv` runs :class:`TimeConv`: float32 features on the CPU (where
    it was measured), a ``[W, C, Kt, 1]`` kernel of at least :data:`WEIGHT_GEMM_WIDTH` output
    channels that needs a gradient, not traced or compiled, and not switched off
    (:func:`weight_gemm`)."""
    if traced() or not _ENABLED.get() or not torch.is_grad_enabled():
        return False
    return (x.device.type == "cpu" and x.dtype == torch.float32 and weight.requires_grad
            and weight.dim() == 4 and weight.size(-1) == 1
            and weight.size(0) >= WEIGHT_GEMM_WIDTH)


def time_conv(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """The ``Kt x 1`` convolution ``F.conv2d(x, weight, bias)`` of the ``channels_last`` view
    ``x`` ``[B, C, T, N]`` -> ``[B, W, T', N]``, through :class:`TimeConv` where
    :func:`takes_weight_gemm` says so."""
    if takes_weight_gemm(x, weight):
        return TimeConv.apply(x, weight, bias)
    return F.conv2d(x, weight, bias)
