import pytest
import torch
from torch_geometric.nn import ChebConv

from pygkd.nn.layers import FastChebConv, scaled_laplacian
from pygkd.testing import toy_graph


def _pair(cin, cout, K, **kw):
    torch.manual_seed(0)
    fast = FastChebConv(cin, cout, K=K, **kw)
    ref = ChebConv(cin, cout, K=K)
    ref.load_state_dict(fast.state_dict())
    return fast, ref


def test_state_dict_names_match_pyg():
    fast, ref = _pair(4, 3, 3)
    assert list(fast.state_dict()) == list(ref.state_dict()) == [
        "bias", "lins.0.weight", "lins.1.weight", "lins.2.weight"]
    assert sum(p.numel() for p in fast.parameters()) == 3 * 4 * 3 + 3
    assert repr(fast) == "FastChebConv(4, 3, K=3, normalization=sym)"


@pytest.mark.parametrize("K", [1, 2, 3, 4])
@pytest.mark.parametrize("threshold", [0.0, 2.0])  # dense / sparse operator
@pytest.mark.parametrize("directed", [False, True])
def test_matches_stock_chebconv_outputs_and_gradients(K, threshold, directed):
    if directed:
        ei = torch.tensor([[0, 1, 2, 3, 4, 1], [1, 2, 3, 4, 0, 3]])
        ew = torch.tensor([1.0, 0.5, 2.0, 0.7, 1.2, 0.3])
    else:
        ei, ew = toy_graph(5)
    fast, ref = _pair(3, 4, K, dense_threshold=threshold)
    _, lam = scaled_laplacian(ei, ew, 5)
    x = torch.randn(2, 6, 5, 3, requires_grad=True)
    out = fast(x, ei, ew)
    x_ref = x.detach().reshape(12, 5, 3).clone().requires_grad_(True)
    expected = ref(x_ref, ei, ew, lambda_max=torch.tensor(lam))
    assert torch.allclose(out.reshape(12, 5, 4), expected, atol=1e-5)
    (out ** 2).sum().backward()
    (expected ** 2).sum().backward()
    assert torch.allclose(x.grad.reshape(12, 5, 3), x_ref.grad, rtol=1e-4, atol=1e-5)
    for (name, p), q in zip(fast.named_parameters(), ref.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-4), name


def test_exact_lambda_max_of_a_path_graph():
    # Path 0-1-2: normalised Laplacian eigenvalues are 0, 1, 2
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    L, lam = scaled_laplacian(ei, None, 3)
    assert lam == pytest.approx(2.0)
    # complete graph K3: eigenvalues 0, 1.5, 1.5
    ei = torch.tensor([[0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]])
    L, lam = scaled_laplacian(ei, None, 3)
    assert lam == pytest.approx(1.5)
    assert L[0, 1] == pytest.approx(2 * (-0.5) / 1.5)
    assert L[0, 0] == pytest.approx(2 / 1.5 - 1)


def test_operator_is_cached_and_refreshed_when_weights_change():
    ei, ew = toy_graph(5)
    fast, _ = _pair(2, 2, 3)
    x = torch.randn(1, 1, 5, 2)
    op1 = fast.operator(x, ei, ew)
    assert fast.operator(x, ei, ew) is op1
    ew.mul_(2.0)  # in-place change bumps the tensor version
    assert fast.operator(x, ei, ew) is not op1


def test_no_edges_is_identity_propagation():
    fast, _ = _pair(2, 2, 2)
    x = torch.randn(1, 1, 3, 2)
    empty = torch.zeros(2, 0, dtype=torch.long)
    out = fast(x, empty)
    expected = fast.lins[0](x) + fast.lins[1](x) + fast.bias
    assert torch.allclose(out, expected, atol=1e-6)
