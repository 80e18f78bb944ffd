"""The temporal convolution whose weight gradient is one product over time-unfolded rows."""

import pytest
import torch
import torch.nn.functional as F

import pygkd.nn.layers.timeconv as timeconv
from pygkd.nn.layers import TemporalConv, TemporalGatedConv
from pygkd.nn.layers.timeconv import (
    WEIGHT_GEMM_WIDTH,
    TimeConv,
    takes_weight_gemm,
    time_conv,
    time_conv_weight_grad,
    weight_gemm,
)
from pygkd.train.evaluate import flop_counter


def _grads(fn, x, w, b, g):
    inputs = [x, w] + ([b] if b is not None else [])
    return torch.autograd.grad(fn(x, w, b), inputs, g)


def _case(b, t, n, c, width, kt, bias, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, t, n, c, generator=gen, dtype=dtype).permute(0, 3, 1, 2)
    w = torch.randn(width, c, kt, 1, generator=gen, dtype=dtype)
    bias_ = torch.randn(width, generator=gen, dtype=dtype) if bias else None
    g = torch.randn(b, t - kt + 1, n, width, generator=gen, dtype=dtype).permute(0, 3, 1, 2)
    return (x.requires_grad_(), w.requires_grad_(),
            None if bias_ is None else bias_.requires_grad_(), g)


def test_weight_gradient_by_hand():
    # x = [1, 2, 3] along time (1 node, 1 channel), Kt = 2, output gradient [g0, g1]:
    # dW[k] = g0 x[k] + g1 x[k + 1], db = g0 + g1
    x = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    grad = torch.tensor([10.0, 100.0]).view(1, 2, 1, 1)
    both = time_conv_weight_grad(x, grad, 2, True)
    assert both.tolist() == [[10 * 1 + 100 * 2, 10 * 2 + 100 * 3, 110.0]]
    assert time_conv_weight_grad(x, grad, 2, False).tolist() == [[210.0, 320.0]]


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("shape", [
    (3, 7, 5, 4, 6, 3, True),    # fewer columns than outputs: the swapped product
    (2, 5, 3, 9, 4, 2, False),   # more columns than outputs, no bias
    (4, 6, 5, 1, 64, 3, True),   # one input channel (STGCN's first layer)
    (3, 4, 2, 3, 8, 1, True),    # a 1x1 kernel
    (2, 4, 3, 2, 5, 4, True),    # the kernel spans the window: one output step
])
def test_equals_the_convolution_forward_and_backward(shape, dtype, tol, monkeypatch):
    b, t, n, c, width, kt, bias = shape
    x, w, bias_, g = _case(b, t, n, c, width, kt, bias, dtype)
    ref = _grads(F.conv2d, x, w, bias_, g)
    for unfold in (1, 2**21):  # one window per group (several groups), and all at once
        monkeypatch.setattr(timeconv, "UNFOLD_BYTES", unfold)
        assert torch.equal(TimeConv.apply(x, w, bias_), F.conv2d(x, w, bias_))
        got = _grads(TimeConv.apply, x, w, bias_, g)
        for r, a in zip(ref, got, strict=True):
            assert a.dtype == dtype and a.shape == r.shape
            assert torch.allclose(a, r, atol=tol, rtol=tol), (a - r).abs().max()


def test_gradcheck_and_double_backward():
    x, w, b, _ = _case(2, 5, 3, 2, 3, 2, True, torch.float64)
    assert torch.autograd.gradcheck(TimeConv.apply, (x, w, b))
    assert torch.autograd.gradgradcheck(TimeConv.apply, (x, w, b))


def test_only_the_gradients_asked_for():
    x, w, b, g = _case(2, 5, 3, 2, 3, 2, True, torch.float32)
    x.requires_grad_(False)
    out = TimeConv.apply(x, w, b)
    gw, = torch.autograd.grad(out, [w], g)
    assert torch.allclose(gw, torch.autograd.grad(F.conv2d(x, w, b), [w], g)[0], atol=1e-5)


def test_the_gate():
    x = torch.randn(2, 3, 6, 4).permute(0, 3, 1, 2)
    wide = torch.randn(WEIGHT_GEMM_WIDTH, 3, 3, 1, requires_grad=True)
    narrow = torch.randn(WEIGHT_GEMM_WIDTH - 1, 3, 3, 1, requires_grad=True)
    assert takes_weight_gemm(x, wide) and not takes_weight_gemm(x, narrow)
    assert not takes_weight_gemm(x.double(), wide.detach().double().requires_grad_())
    assert not takes_weight_gemm(x, wide.detach())  # nothing to differentiate
    with torch.no_grad():
        assert not takes_weight_gemm(x, wide)
    with weight_gemm(False):
        assert not takes_weight_gemm(x, wide)
    assert takes_weight_gemm(x, wide)


def test_taken_by_wide_temporal_layers_only(monkeypatch):
    calls = []
    apply = TimeConv.apply
    monkeypatch.setattr(TimeConv, "apply", lambda *a: calls.append(a[1].shape) or apply(*a))
    TemporalGatedConv(4, 32)(torch.randn(2, 6, 3, 4)).sum().backward()  # 64 outputs
    TemporalConv(4, 32)(torch.randn(2, 6, 3, 4)).sum().backward()  # 32 outputs
    assert calls == [torch.Size([64, 4, 3, 1])]
    assert time_conv(torch.randn(1, 4, 5, 2), torch.randn(64, 4, 3, 1), None).shape == (1, 64, 3, 2)


@pytest.mark.parametrize("layer", [TemporalGatedConv(8, 32), TemporalConv(8, 64)])
def test_layer_gradients_equal_on_both_backward_paths(layer):
    torch.manual_seed(3)
    x = torch.randn(3, 7, 5, 8)
    grads = []
    for enabled in (True, False):
        layer.zero_grad(set_to_none=True)
        with weight_gemm(enabled):
            layer(x).square().sum().backward()
        grads.append({n: p.grad.clone() for n, p in layer.named_parameters()})
    for name, g in grads[0].items():
        assert torch.allclose(g, grads[1][name], atol=1e-5, rtol=1e-5), name
        assert g.abs().sum() > 0


def test_flop_count_equals_the_convolution_backward():
    layer = TemporalConv(8, 64, residual=False, activation="linear")
    x = torch.randn(2, 7, 5, 8, requires_grad=True)
    counts = []
    for enabled in (True, False):
        with weight_gemm(enabled), flop_counter() as counter:
            layer(x).sum().backward()
        counts.append(counter.get_total_flops())
    # three products of 2*B*T'*N*C*Kt*W: forward, input gradient, weight gradient
    assert counts[0] == counts[1] == 3 * 2 * 2 * 5 * 5 * 8 * 3 * 64


def test_students_keep_the_convolution_backward_bit_for_bit():
    # the Table 2 student's kernels are at most 16 channels wide: its training is unchanged
    from pygkd.nn.models.stgcn import PRESETS, STGCN
    from pygkd.testing import toy_graph

    ei, ew = toy_graph(7)
    x = torch.randn(4, 12, 7, 1, generator=torch.Generator().manual_seed(1))
    grads = []
    for enabled in (True, False):
        torch.manual_seed(0)
        model = STGCN(7, PRESETS["student"]).cache_graph(ei, ew).train()
        with weight_gemm(enabled):
            model(x).sum().backward()
        grads.append([p.grad for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))


def test_without_onednn_the_product_is_torch_mm(monkeypatch):
    x, w, b, g = _case(3, 6, 4, 5, 64, 3, True, torch.float32)
    with_onednn = _grads(TimeConv.apply, x, w, b, g)
    monkeypatch.setattr(timeconv, "onednn_matmul", lambda: None)  # the name timeconv calls
    without = _grads(TimeConv.apply, x, w, b, g)
    for a, r in zip(without, with_onednn, strict=True):
        assert torch.allclose(a, r, atol=1e-5, rtol=1e-5)


def test_onednn_matmul_is_checked_and_multiplies():
    from pygkd.nn.layers.onednn import onednn_matmul

    matmul = onednn_matmul()
    if matmul is None:
        pytest.skip("this PyTorch has no oneDNN product")
    a, w = torch.randn(5, 3), torch.randn(4, 3)
    assert torch.allclose(matmul(a, w, None, "none", [], ""), a @ w.t(), atol=1e-6)
