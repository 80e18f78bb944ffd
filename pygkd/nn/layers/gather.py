r"""A sparse graph operator applied to channel-last features as one weighted gather.

STGCN's features are ``[B, T, N, C]``: ``L = B * T`` graph slices of ``N`` nodes, channels
last. A sparse product ``torch.sparse.mm(A, X)`` needs the nodes first (``[N, L * C]``), which
costs a transpose copy of the activations on the way in and out, forward and backward. Here the
operator acts on the rows ``[L * N, C]`` as they lie in memory: the block-diagonal
:math:`I_L \otimes A` is expanded once per graph (:func:`block_rows`) and applied with
:func:`torch.nn.functional.embedding_bag` (output row ``i`` is the weighted sum of the input
rows in bag ``i``), one pass that writes every output row once. On the PeMSD7(M) graph (228
sensors, 1,892 nonzeros) at a batch of 50 this is faster than ``torch.sparse.mm`` on the
node-major layout even before the two transposes it saves.

``gather_rows`` is a registered custom operator (``torch.ops.pygkd.gather_rows``) with its own
backward (the same gather with the transpose's expansion), so autograd, the FLOP counter and
fake tensors see one op.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["block_rows"]


@torch.library.custom_op("pygkd::gather_rows", mutates_args=())
def gather_rows(index: Tensor, offsets: Tensor, weights: Tensor, index_t: Tensor,
                offsets_t: Tensor, weights_t: Tensor, x: Tensor, scale: float) -> Tensor:
    """``scale * (I_L x A) @ x`` for rows ``x`` of shape ``[L * N, C]``: output row ``i`` is
    ``scale * sum(weights[e] * x[index[e]])`` over ``e`` in ``offsets[i] : offsets[i + 1]``
    (``*_t``: the transpose's expansion, used by the backward pass). Returns ``[L * N, C]``."""
    w = weights.to(x.dtype)
    if scale != 1.0:
        w = w * scale
    return F.embedding_bag(index, x.contiguous(), offsets, mode="sum", per_sample_weights=w)


@gather_rows.register_fake
def _gather_rows_fake(index, offsets, weights, index_t, offsets_t, weights_t, x, scale):  # type: ignore[no-untyped-def]
    return x.new_empty(offsets.numel(), x.size(1))


def _gather_setup(ctx, inputs, output) -> None:  # type: ignore[no-untyped-def]
    index, offsets, weights, index_t, offsets_t, weights_t, _, scale = inputs
    ctx.save_for_backward(index, offsets, weights, index_t, offsets_t, weights_t)
    ctx.scale = scale


def _gather_backward(ctx, grad: Tensor):  # type: ignore[no-untyped-def]
    index, offsets, weights, index_t, offsets_t, weights_t = ctx.saved_tensors
    grad_x = gather_rows(index_t, offsets_t, weights_t, index, offsets, weights, grad, ctx.scale)
    return None, None, None, None, None, None, grad_x, None


gather_rows.register_autograd(_gather_backward, setup_context=_gather_setup)


def _gather_flops(index_shape, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
    x_shape = args[5]
    return 2 * int(index_shape[0]) * int(x_shape[1])


try:  # count the gather in torch.utils.flop_counter
    from torch.utils.flop_counter import register_flop_formula

    register_flop_formula(torch.ops.pygkd.gather_rows)(_gather_flops)
except Exception:  # pragma: no cover - older torch without the public hook
    pass


def block_rows(crow: Tensor, col: Tensor, values: Tensor, copies: int
               ) -> tuple[Tensor, Tensor, Tensor]:
    r"""The CSR matrix ``A`` (``crow, col, values``, ``N x N``) expanded to
    :math:`I_{copies} \otimes A` as ``(index, offsets, weights)`` for ``gather_rows``.

    Indices and offsets are int32 when they fit (half the memory, the same speed), else int64;
    ``weights`` keeps ``values``' dtype. The expansion for fewer copies is a prefix of this one
    (``index[:k * nnz]``, ``offsets[:k * N]``, ``weights[:k * nnz]``).

    Example:
        >>> crow, col, val = torch.tensor([0, 1, 2]), torch.tensor([1, 0]), torch.tensor([2., 3.])
        >>> index, offsets, weights = block_rows(crow, col, val, 2)
        >>> index.tolist(), offsets.tolist(), weights.tolist()
        ([1, 0, 3, 2], [0, 1, 2, 3], [2.0, 3.0, 2.0, 3.0])
    """
    n, nnz = crow.numel() - 1, col.numel()
    wide = max(copies * n, copies * nnz) >= 2**31
    dtype = torch.int64 if wide else torch.int32
    block = torch.arange(copies, device=col.device, dtype=torch.int64)
    index = (col.to(torch.int64)[None, :] + (block * n)[:, None]).reshape(-1)
    offsets = (crow[:-1].to(torch.int64)[None, :] + (block * nnz)[:, None]).reshape(-1)
    return index.to(dtype), offsets.to(dtype), values.repeat(copies)
