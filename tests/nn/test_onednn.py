"""oneDNN's dense product as an operator, and the node-major Chebyshev products through it."""

import pytest
import torch

from pygkd.nn.layers import FastChebConv
from pygkd.nn.layers.onednn import (
    MIN_ROWS,
    onednn_linear,
    onednn_matmul,
    onednn_products,
    takes_onednn,
)
from pygkd.nn.layers.spatial import row_path
from pygkd.testing import toy_graph
from pygkd.train.evaluate import flop_counter

pytestmark = pytest.mark.skipif(onednn_matmul() is None, reason="no oneDNN product in this torch")


def test_onednn_matmul_multiplies():
    a, w = torch.randn(5, 3), torch.randn(4, 3)
    assert torch.allclose(onednn_matmul()(a, w, None, "none", [], ""), a @ w.t(), atol=1e-6)


def test_by_hand():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    w = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])  # [out 3, in 2]
    out = onednn_linear(x, w, torch.tensor([0.0, 10.0, 100.0]))
    assert out.tolist() == [[1.0, 13.0, 104.0], [3.0, 17.0, 108.0]]


@pytest.mark.parametrize("bias", [True, False])
def test_equals_addmm_forward_backward_and_second_order(bias):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=gen, requires_grad=True)
    w = torch.randn(5, 6, generator=gen, requires_grad=True)
    b = torch.randn(5, generator=gen, requires_grad=True) if bias else None
    inputs = [x, w] + ([b] if bias else [])
    g = torch.randn(40, 5, generator=gen)

    def grads(fn):
        out = fn()
        first = torch.autograd.grad(out, inputs, g, create_graph=True)
        # (the bias enters the first gradients not at all: second order for x and w only)
        second = torch.autograd.grad(sum((f * f).sum() for f in first), [x, w])
        return out, first, second

    got = grads(lambda: onednn_linear(x, w, b))
    ref = grads(lambda: x @ w.t() + (b if bias else 0))
    assert torch.allclose(got[0], ref[0], atol=1e-5)
    for a, r in zip(got[1] + got[2], ref[1] + ref[2], strict=True):
        assert torch.allclose(a, r, atol=1e-4, rtol=1e-5)


def test_flops_are_counted():
    x, w = torch.randn(7, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    with flop_counter() as counter:
        onednn_linear(x, w, None).sum().backward()
    assert counter.get_total_flops() == 3 * 2 * 7 * 3 * 4  # forward and both gradients


def test_the_gate():
    x, w = torch.randn(3, 2), torch.randn(2, 2, requires_grad=True)
    assert takes_onednn(x, w, MIN_ROWS) and not takes_onednn(x, w, MIN_ROWS - 1)
    assert not takes_onednn(x.double(), w.double(), MIN_ROWS)
    assert not takes_onednn(x, w.detach(), MIN_ROWS)  # inference, a frozen teacher
    assert takes_onednn(x.requires_grad_(), w.detach(), MIN_ROWS)
    with torch.no_grad():
        assert not takes_onednn(x, w, MIN_ROWS)
    with onednn_products(False):
        assert not takes_onednn(x, w, MIN_ROWS)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not takes_onednn(x, w, MIN_ROWS)


@pytest.mark.parametrize("channels", [(2, 2), (32, 32), (5, 3)])
def test_chebyshev_node_major_products_equal_both_ways(channels, monkeypatch):
    import pygkd.nn.layers.onednn as onednn
    import pygkd.nn.layers.spatial as spatial

    monkeypatch.setattr(onednn, "MIN_ROWS", 1)  # small test graphs take the product too
    calls = []
    monkeypatch.setattr(spatial, "onednn_linear",
                        lambda *a: calls.append(a[0].shape) or onednn_linear(*a))
    c_in, c_out = channels
    torch.manual_seed(0)
    ei, ew = toy_graph(9)
    conv = FastChebConv(c_in, c_out, K=3)
    x = torch.randn(4, 5, 9, c_in)
    op = conv.build_operator(x, ei, ew)
    results = []
    for enabled in (True, False):
        conv.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_()
        with onednn_products(enabled), row_path(False):  # the node-major path
            out = conv(xi, operator=op)
        out.square().sum().backward()
        results.append([out.detach(), xi.grad] + [p.grad for p in conv.parameters()])
    assert len(calls) == 3  # Theta_0..2, with oneDNN's product only
    for a, r in zip(*results, strict=True):
        assert torch.allclose(a, r, atol=1e-5, rtol=1e-5)
        assert a.abs().sum() > 0
