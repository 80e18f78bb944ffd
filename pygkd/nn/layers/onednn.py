r"""oneDNN's dense matrix product for the CPU layers.

PyTorch runs ``torch.matmul`` on the CPU with the BLAS it was built with (MKL for the
official wheels) and convolutions with oneDNN. On AMD processors MKL takes a slower code path:
on the 2-core AMD EPYC machine this package is measured on, a ``2048 x 2048`` float32 product
ran at about 100 GFLOP/s through ``torch.matmul`` and about 230 through oneDNN, and the narrow
products of the Chebyshev layers (``[M, 32] @ [32, 32]``) 1.8-2.9x faster forward and for the
input gradient. ``onednn_linear(x, weight, bias)`` (``torch.ops.pygkd.onednn_linear``) is
oneDNN's ``x @ weight.T (+ bias)`` (``[M, K]``, ``[N, K]`` -> ``[M, N]``) as a registered
operator with its own backward (the input gradient by oneDNN again, the weight's by
``torch.mm``, which measured faster for that reduction over rows) and FLOP formula;
:func:`onednn_matmul` is the raw call.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from torch import Tensor

from pygkd.nn.layers.tracing import traced

# (onednn_linear is a registered operator, torch.ops.pygkd.onednn_linear, described above)
__all__ = ["onednn_matmul", "onednn_products", "takes_onednn", "MIN_ROWS"]

#: Products of at least this many rows take oneDNN's product (a training step of the
#: Table 2 student, 1 thread, the two ways alternating step by step: 1.05x faster with
#: 43,000-row products at 8,600 sensors, 0.98x with 7,125-row ones at 228, where a call's fixed
#: cost and the separate add outweigh the faster product).
MIN_ROWS = 2**14

_ENABLED = ContextVar("pygkd_onednn_products", default=True)


@contextmanager
def onednn_products(enabled: bool) -> Iterator[None]:
    """Within this context, the node-major Chebyshev products run through
    ``onednn_linear`` (where :func:`takes_onednn` says so) only if ``enabled`` (``False``:
    ``torch.addmm`` everywhere, e.g. to time one against the other)."""
    token = _ENABLED.set(bool(enabled))
    try:
        yield
    finally:
        _ENABLED.reset(token)


@functools.cache
def onednn_matmul() -> Any:
    """oneDNN's dense matrix product, called as ``matmul(input, weight, bias, "none", [], "")``
    for ``input @ weight.T (+ bias)`` (``torch.ops.mkldnn._linear_pointwise``, which also reads
    transposed operands in place), if this PyTorch has it and it computes a small product
    right (checked once per process); else None."""
    if not torch.backends.mkldnn.is_available():
        return None
    matmul = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if matmul is None:
        return None
    a = torch.arange(6.0).view(3, 2)
    try:  # an internal operator: its signature may change between releases
        ok = torch.equal(matmul(a.t(), a.t(), None, "none", [], ""), a.t() @ a)
    except (RuntimeError, TypeError):
        return None
    return matmul if ok else None


def takes_onednn(x: Tensor, weight: Tensor, rows: int) -> bool:
    """Whether a product of ``x`` (``rows`` rows) with ``weight`` runs through
    ``onednn_linear``: in training (gradients enabled and wanted by ``x`` or ``weight``, where
    it was measured; inference and frozen teachers keep ``torch.addmm`` and its outputs bit for
    bit), at least :data:`MIN_ROWS` rows, float32 on the CPU outside autocast, oneDNN's
    product available, not traced, and not switched off (:func:`onednn_products`)."""
    if traced() or not _ENABLED.get() or x.device.type != "cpu" or x.dtype != torch.float32:
        return False
    if rows < MIN_ROWS or not torch.is_grad_enabled():
        return False
    if not (x.requires_grad or weight.requires_grad):
        return False
    return not torch.is_autocast_enabled("cpu") and onednn_matmul() is not None


@torch.library.custom_op("pygkd::onednn_linear", mutates_args=())
def onednn_linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ weight.T (+ bias)`` by oneDNN (``[M, K]``, ``[N, K]`` -> ``[M, N]``), float32 on
    the CPU (see :func:`takes_onednn`)."""
    matmul = onednn_matmul()
    if matmul is None:
        raise RuntimeError("onednn_linear: this PyTorch has no oneDNN product")
    return matmul(x, weight, bias, "none", [], "")


@onednn_linear.register_fake
def _linear_fake(x, weight, bias):  # type: ignore[no-untyped-def]
    return x.new_empty(x.size(0), weight.size(0))


def _linear_setup(ctx, inputs, output) -> None:  # type: ignore[no-untyped-def]
    x, weight, bias = inputs
    ctx.save_for_backward(x, weight)
    ctx.has_bias = bias is not None


def _linear_backward(ctx, grad: Tensor):  # type: ignore[no-untyped-def]
    x, weight = ctx.saved_tensors
    want_x, want_w, want_b = ctx.needs_input_grad
    # the input gradient is oneDNN's product again; the weight's (a reduction over the rows)
    # stays torch.mm, which measured faster for it
    gx = onednn_linear(grad, weight.t(), None) if want_x else None
    gw = torch.mm(grad.t(), x) if want_w else None
    gb = grad.sum(0) if want_b and ctx.has_bias else None
    return gx, gw, gb


onednn_linear.register_autograd(_linear_backward, setup_context=_linear_setup)


def _linear_flops(x_shape, weight_shape, bias_shape, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
    return 2 * int(x_shape[0]) * int(x_shape[1]) * int(weight_shape[0])


try:  # count the product in torch.utils.flop_counter
    from torch.utils.flop_counter import register_flop_formula

    register_flop_formula(torch.ops.pygkd.onednn_linear)(_linear_flops)
except Exception:  # pragma: no cover - older torch without the public hook
    pass
