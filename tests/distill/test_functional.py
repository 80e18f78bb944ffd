"""Each loss against a hand-computed case, zero at student == teacher, gradients to the
student only, and clear errors for bad hyper-parameters and shapes."""

import math

import pytest
import torch

from pygkd.distill import (
    OverseenResponseLoss,
    ResponseKLLoss,
    ResponseL2Loss,
    SpatialCorrelationLoss,
    StructuralKDLoss,
    TemporalCorrelationLoss,
)
from pygkd.distill import functional as Fd


def test_rd_l2_hand_value():
    y_s = torch.tensor([[1.0, 2.0]])
    y_t = torch.tensor([[3.0, 2.0]])
    target = torch.tensor([[0.0, 4.0]])
    # beta=0.25: entry 0: 0.25*4 + 0.75*1 = 1.75; entry 1: 0 + 0.75*4 = 3 -> mean 2.375
    assert float(Fd.response_l2(y_s, y_t, target, 0.25)) == pytest.approx(2.375)
    assert float(ResponseL2Loss(0.25, reduction="sum")(y_s, y_t, target)) == pytest.approx(4.75)


def test_rd_kl_hand_value():
    y_s = torch.tensor([[0.0, 0.0]])
    y_t = torch.tensor([[math.log(3.0), 0.0]])  # softmax -> [0.75, 0.25]
    target = torch.tensor([[1.0, 0.0]])
    kl = [0.75 * math.log(0.75 / 0.5), 0.25 * math.log(0.25 / 0.5)]
    expected = [0.5 * kl[0] + 0.5 * 1.0, 0.5 * kl[1] + 0.0]
    out = Fd.response_kl(y_s, y_t, target, beta=0.5, reduction="none")
    assert out[0].tolist() == pytest.approx(expected, rel=1e-5)
    # temperature 2 halves the logits: softmax([log 3 / 2, 0]) = [sqrt3/(1+sqrt3), ...]
    p = math.sqrt(3) / (1 + math.sqrt(3))
    kl_tau = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    assert float(ResponseKLLoss(beta=1.0, tau=2.0, reduction="sum")(y_s, y_t, target)) \
        == pytest.approx(kl_tau, rel=1e-5)


def test_ord_hand_value_and_teacher_share():
    y_s = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    y_t = torch.tensor([[1.0, 2.0, 5.0], [4.0, 4.0, 4.0]])
    target = torch.tensor([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    # sample 0: D = [0, 1, 4] -> [0, .25, 1]; alpha1 = .5 -> target, target, teacher
    #   terms (0-1)^2, (0-1)^2, (0-5)^2 = 1, 1, 25
    # sample 1: D constant -> 0 -> target for all: (1-2)^2 = 1 each
    criterion = OverseenResponseLoss(0.5)
    loss = criterion(y_s, y_t, target)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0  # a tensor, as every loss
    assert float(loss) == pytest.approx((1 + 1 + 25 + 3) / 6)
    assert float(criterion.teacher_share) == pytest.approx(1 / 6)
    assert float(Fd.overseen_response(y_s, y_t, target, 0.5)) == pytest.approx(float(loss))
    loss1, share1 = Fd.overseen_response(y_s, y_t, target, alpha1=1.0, return_share=True)
    assert float(share1) == 0.0  # D <= 1 always: the target everywhere
    loss0, share0 = Fd.overseen_response(y_s, y_t, target, alpha1=0.0, return_share=True)
    assert float(share0) == pytest.approx(2 / 6)


def test_tcd_hand_value():
    # one sample, one node, T = 3, C_s = 1 and C_t = 2
    f_s = torch.tensor([0.0, 1.0, 3.0]).view(1, 3, 1, 1)
    f_t = torch.tensor([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]]).view(1, 3, 1, 2)
    # student pairs (0,1),(0,2),(1,2): 1, 3, 2; teacher (mean over channels): 1, 2, 1
    expected = ((1 - 1) ** 2 + (3 - 2) ** 2 + (2 - 1) ** 2) / 3
    assert float(TemporalCorrelationLoss()(f_s, f_t)) == pytest.approx(expected)


def test_scd_hand_value():
    # one sample, one step, N = 3 nodes
    f_s = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 4.0]]).view(1, 1, 3, 2)
    f_t = torch.tensor([0.0, 2.0, 2.0]).view(1, 1, 3, 1)
    # student: d01 = 1, d02 = 2, d12 = (1+3)/2 = 2; teacher: 2, 2, 0
    expected = ((1 - 2) ** 2 + (2 - 2) ** 2 + (2 - 0) ** 2) / 3
    assert float(SpatialCorrelationLoss()(f_s, f_t)) == pytest.approx(expected)
    assert SpatialCorrelationLoss(reduction="none")(f_s, f_t).shape == (1, 1)


def test_stcd_combination():
    out = Fd.spatio_temporal_correlation(torch.tensor(1.0), torch.tensor(2.0),
                                         torch.tensor(4.0), alpha2=0.047, alpha3=0.313)
    assert float(out) == pytest.approx(1.0 + 0.313 * (0.047 * 2.0 + 0.953 * 4.0))


def _skd_by_broadcasting(h_s, h_t, y_s, target, alpha):
    """L_SKD written out with [B, M, M, C] differences (small inputs only)."""
    def normalised(h):
        flat = h.reshape(h.size(0), -1, h.size(-1))
        squared = ((flat[:, :, None] - flat[:, None]) ** 2).sum(-1)
        nonzero = squared > 0
        dist = torch.where(nonzero, squared.clamp_min(1e-300).sqrt(), torch.zeros_like(squared))
        mean = dist.sum((1, 2)) / nonzero.sum((1, 2))
        return dist / mean[:, None, None]

    match = torch.nn.functional.smooth_l1_loss(normalised(h_s), normalised(h_t),
                                               reduction="none").mean((1, 2))
    return ((1 - alpha) * ((y_s - target) ** 2).mean(1) + alpha * match).mean()


@pytest.mark.parametrize("chunk_elements", [2**20, 2 * 21 * 21, 1])
def test_skd_equals_the_written_out_loss_and_gradient(monkeypatch, chunk_elements):
    # all samples at once, two at a time, one at a time: the same value and gradient
    monkeypatch.setattr(Fd, "SKD_CHUNK_ELEMENTS", chunk_elements)
    torch.manual_seed(0)
    h_s = torch.randn(5, 3, 7, 4, dtype=torch.float64, requires_grad=True)
    h_t = torch.randn(5, 3, 7, 6, dtype=torch.float64)
    y_s, target = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)
    expected = _skd_by_broadcasting(h_s, h_t, y_s, target, 0.3)
    (grad_expected,) = torch.autograd.grad(expected, h_s)
    got = Fd.structural_kd(h_s, h_t, y_s, target, 0.3)
    (grad,) = torch.autograd.grad(got, h_s)
    assert float(got.detach()) == pytest.approx(float(expected.detach()), rel=1e-12)
    torch.testing.assert_close(grad, grad_expected, rtol=1e-9, atol=1e-15)


def test_skd_gradcheck_and_coincident_points():
    torch.manual_seed(1)
    h_s = torch.randn(2, 2, 4, 3, dtype=torch.float64)
    h_s[:, 0, 1] = h_s[:, 0, 0]  # two coincident points per sample: distance 0, no gradient
    h_s.requires_grad_()
    h_t = torch.randn(2, 2, 4, 5, dtype=torch.float64)
    y = torch.zeros(2, 4, dtype=torch.float64)
    out = Fd.structural_kd(h_s, h_t, y, y, alpha=1.0)
    (grad,) = torch.autograd.grad(out, h_s)
    assert torch.isfinite(grad).all()
    expected = _skd_by_broadcasting(h_s, h_t, y, y, 1.0)
    assert float(out.detach()) == pytest.approx(float(expected.detach()), rel=1e-12)
    h_free = torch.randn(2, 2, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h: Fd.structural_kd(h, h_t, y, y, 0.5), (h_free,))


def test_pairwise_euclidean_zero_on_the_diagonal():
    x = torch.randn(3, 50, 8) * 10 + 100  # far from the origin: the Gram identity's worst case
    d = Fd.pairwise_euclidean(x)
    assert torch.equal(d.diagonal(dim1=1, dim2=2), torch.zeros(3, 50))
    torch.testing.assert_close(d, torch.cdist(x.double(), x.double()).float(), rtol=1e-3,
                               atol=1e-3)


def test_skd_hand_value():
    # one sample, T*N = 3 points in 1-D: 0, 1, 3 -> distances 1, 3, 2 (mean 2)
    h_s = torch.tensor([0.0, 1.0, 3.0]).view(1, 1, 3, 1)
    # teacher points 0, 2, 2 -> distances 2, 2, 0 -> mean over nonzero = 2
    h_t = torch.tensor([0.0, 2.0, 2.0]).view(1, 1, 3, 1)
    y_s, target = torch.tensor([[1.0, 0.0, 0.0]]), torch.zeros(1, 3)
    s = torch.tensor([[0, 1, 3], [1, 0, 2], [3, 2, 0]]) / 2.0
    t = torch.tensor([[0, 2, 2], [2, 0, 0], [2, 0, 0]]) / 2.0
    diff = (s - t).abs()
    smooth = torch.where(diff < 1, 0.5 * diff**2, diff - 0.5).mean()
    expected = 0.7 * (1 / 3) + 0.3 * float(smooth)
    assert float(StructuralKDLoss(alpha=0.3)(h_s, h_t, y_s, target)) == pytest.approx(expected)


FEATURE_LOSSES = [Fd.temporal_correlation, Fd.spatial_correlation]


@pytest.mark.parametrize("loss", FEATURE_LOSSES)
def test_feature_losses_zero_when_equal_and_student_only_gradients(loss):
    g = torch.Generator().manual_seed(0)
    f_t = torch.randn(2, 5, 4, 3, generator=g, requires_grad=True)
    assert float(loss(f_t.detach(), f_t)) == pytest.approx(0.0, abs=1e-10)
    f_s = torch.randn(2, 5, 4, 6, generator=g, requires_grad=True)
    loss(f_s, f_t).backward()
    assert f_s.grad is not None and f_s.grad.abs().sum() > 0
    assert f_t.grad is None


@pytest.mark.parametrize("name", ["l2", "kl", "ord"])
def test_response_losses_zero_and_student_only_gradients(name):
    g = torch.Generator().manual_seed(1)
    y = torch.randn(3, 5, generator=g)
    fn = {"l2": lambda s, t, T: Fd.response_l2(s, t, T, 0.4),
          "kl": lambda s, t, T: Fd.response_kl(s, t, T, 0.4),
          "ord": lambda s, t, T: Fd.overseen_response(s, t, T, 0.5)}[name]
    assert float(fn(y, y, y)) == pytest.approx(0.0, abs=1e-7)
    y_s = torch.randn(3, 5, generator=g, requires_grad=True)
    y_t = torch.randn(3, 5, generator=g, requires_grad=True)
    fn(y_s, y_t, y).backward()
    assert y_s.grad.abs().sum() > 0 and y_t.grad is None


def test_scd_is_invariant_to_node_permutation():
    g = torch.Generator().manual_seed(2)
    f_s, f_t = torch.randn(2, 3, 6, 4, generator=g), torch.randn(2, 3, 6, 8, generator=g)
    perm = torch.randperm(6, generator=g)
    a = Fd.spatial_correlation(f_s, f_t)
    b = Fd.spatial_correlation(f_s[:, :, perm], f_t[:, :, perm])
    assert float(a) == pytest.approx(float(b), rel=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reductions_agree(reduction):
    f_s, f_t = torch.randn(2, 3, 4, 2), torch.randn(2, 3, 4, 5)
    none = Fd.spatial_correlation(f_s, f_t, "none")
    out = Fd.spatial_correlation(f_s, f_t, reduction)
    expected = {"mean": none.mean(), "sum": none.sum(), "none": none}[reduction]
    assert torch.allclose(out, expected)


@pytest.mark.parametrize("make, message", [
    (lambda: ResponseL2Loss(beta=1.5), "'beta' in \\[0, 1\\]"),
    (lambda: ResponseKLLoss(beta=0.5, tau=0.0), "'tau' > 0"),
    (lambda: OverseenResponseLoss(alpha1=-0.1), "'alpha1' in \\[0, 1\\]"),
    (lambda: StructuralKDLoss(alpha=2.0), "'alpha' in \\[0, 1\\]"),
    (lambda: Fd.spatio_temporal_correlation(torch.tensor(0.), torch.tensor(0.), torch.tensor(0.),
                                            alpha2=0.5, alpha3=1.2), "'alpha3' in \\[0, 1\\]"),
    (lambda: TemporalCorrelationLoss(reduction="avg"), "reduction"),
])
def test_bad_hyper_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_mismatched_sizes_name_both_shapes():
    with pytest.raises(ValueError, match="\\(2, 3, 4, 5\\) and \\(2, 3, 5, 5\\)"):
        Fd.spatial_correlation(torch.zeros(2, 3, 4, 5), torch.zeros(2, 3, 5, 5))
    with pytest.raises(ValueError, match="same shape"):
        Fd.response_l2(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 3), 0.5)


def _naive_scd(f_s, f_t):
    d_s = (f_s[..., :, None, :] - f_s[..., None, :, :]).abs().mean(-1)  # [B, T, N, N]
    d_t = (f_t[..., :, None, :] - f_t[..., None, :, :]).abs().mean(-1)
    n = f_s.size(2)
    return ((d_s - d_t) ** 2).sum(dim=(-1, -2)) / (n * (n - 1))  # [B, T]


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_chunked_scd_matches_naive_autograd(chunk):
    g = torch.Generator().manual_seed(3)
    f_s = torch.randn(2, 3, 7, 2, generator=g, dtype=torch.float64, requires_grad=True)
    f_t = torch.randn(2, 3, 7, 5, generator=g, dtype=torch.float64)
    weights = torch.rand(2, 3, generator=g, dtype=torch.float64)
    out = Fd.spatial_correlation(f_s, f_t, reduction="none", chunk=chunk)
    (out * weights).sum().backward()
    grad = f_s.grad.clone()
    f_s.grad = None
    ref = _naive_scd(f_s, f_t)
    (ref * weights).sum().backward()
    assert torch.allclose(out, ref.detach())
    assert torch.allclose(grad, f_s.grad)
    cached = Fd.spatial_correlation(f_s, teacher_distances=Fd.pairwise_l1(f_t), chunk=chunk)
    assert float(cached.detach()) == pytest.approx(float(ref.mean().detach()))


def test_scd_gradcheck():
    g = torch.Generator().manual_seed(4)
    f_s = torch.randn(1, 2, 4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    f_t = torch.randn(1, 2, 4, 2, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: Fd.spatial_correlation(x, f_t, chunk=1), (f_s,))


def test_skd_distances_stay_float32_under_autocast():
    # bfloat16 Gram matrices would round distances by about 1 %; the loss disables autocast
    torch.manual_seed(2)
    h_s, h_t = torch.randn(3, 2, 30, 8), torch.randn(3, 2, 30, 16)
    y = torch.zeros(3, 30)
    plain = Fd.structural_kd(h_s, h_t, y, y, alpha=1.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = Fd.structural_kd(h_s, h_t, y, y, alpha=1.0)
    assert float(autocast) == pytest.approx(float(plain), rel=1e-6)
