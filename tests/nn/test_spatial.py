import pytest
import torch
from torch_geometric.nn import ChebConv

from pygkd.nn.layers import FastChebConv, GraphOperator, scaled_laplacian
from pygkd.nn.layers.spatial import row_path
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
@pytest.mark.parametrize("cin,cout,batch", [(3, 4, 2), (2, 2, 8), (16, 8, 1)])  # k = 4, 16, 1
def test_matches_stock_chebconv_outputs_and_gradients(K, threshold, directed, cin, cout, batch):
    if directed:
        ei = torch.tensor([[0, 1, 2, 3, 4, 1], [1, 2, 3, 4, 0, 3]])
        ew = torch.tensor([1.0, 0.5, 2.0, 0.7, 1.2, 0.3])
    else:
        ei, ew = toy_graph(5)
    fast, ref = _pair(cin, cout, K, dense_threshold=threshold)
    _, lam = scaled_laplacian(ei, ew, 5)
    x = torch.randn(batch, 6, 5, cin, requires_grad=True)
    out = fast(x, ei, ew)
    x_ref = x.detach().reshape(batch * 6, 5, cin).clone().requires_grad_(True)
    expected = ref(x_ref, ei, ew, lambda_max=torch.tensor(lam))
    assert torch.allclose(out.reshape(batch * 6, 5, cout), expected, atol=1e-5)
    (out ** 2).sum().backward()
    (expected ** 2).sum().backward()
    # float32 rounding of different summation orders: tolerance relative to the largest entry
    scale = float(x_ref.grad.abs().max())
    assert torch.allclose(x.grad.reshape(batch * 6, 5, cin), x_ref.grad, rtol=1e-4,
                          atol=1e-6 * scale)
    for (name, p), q in zip(fast.named_parameters(), ref.parameters(), strict=False):
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


def test_cached_operator_is_built_once_and_reused_until_reset():
    ei, ew = toy_graph(5)
    other = ew.clone()
    other[0] = other[5] = 5.0  # another graph (a symmetric edge reweighted)
    fast, _ = _pair(2, 2, 3, cached=True)
    x = torch.randn(1, 1, 5, 2)
    first = fast(x, ei, ew)
    op = fast.cached_operator
    assert isinstance(op, GraphOperator)
    # PyG's cached=True: later graphs are ignored, the call needs no graph at all
    assert torch.equal(fast(x, ei, other), first)
    assert torch.equal(fast(x), first)
    assert fast.cached_operator is op
    fast.reset_cache()
    assert not torch.allclose(fast(x, ei, other), first)


def test_uncached_layer_builds_per_call_and_accepts_a_given_operator():
    ei, ew = toy_graph(5)
    fast, _ = _pair(2, 2, 3)
    x = torch.randn(1, 1, 5, 2)
    fast(x, ei, ew)
    assert fast.cached_operator is None
    other = ew.clone()
    other[0] = other[5] = 5.0
    op = GraphOperator.from_edges(ei, other, 5)
    assert torch.allclose(fast(x, operator=op), fast(x, ei, other), atol=1e-6)
    assert not torch.allclose(fast(x, operator=op), fast(x, ei, ew), atol=1e-3)
    with pytest.raises(ValueError, match="edge_index"):
        fast(x)


@pytest.mark.parametrize("threshold", [0.0, 2.0])
def test_duplicate_edges_are_summed_as_pyg_does(threshold):
    ei, ew = toy_graph(5)
    dup_ei = torch.cat([ei, ei[:, :3]], dim=1)
    dup_ew = torch.cat([ew, ew[:3] * 0.5])
    fast, ref = _pair(3, 4, 3, dense_threshold=threshold)
    lam = GraphOperator.from_edges(dup_ei, dup_ew, 5).lambda_max
    x = torch.randn(4, 5, 3)
    expected = ref(x, dup_ei, dup_ew, lambda_max=torch.tensor(lam))
    assert torch.allclose(fast(x, dup_ei, dup_ew), expected, atol=1e-5)


def test_sparse_lambda_max_matches_the_dense_eigensolver(monkeypatch):
    from pygkd.data.synthetic import random_sensor_graph
    from pygkd.nn.layers import operator as op_module

    ei, ew = random_sensor_graph(1500, neighbours=8, seed=1)
    dense = GraphOperator.from_edges(ei, ew, 1500).lambda_max  # 1500 > 1024: ARPACK
    monkeypatch.setattr(op_module, "DENSE_EIG_NODES", 10_000)
    exact = GraphOperator.from_edges(ei, ew, 1500).lambda_max
    assert abs(dense - exact) <= 1e-6 * exact


def test_large_graph_operator_is_sparse_and_small():
    from pygkd.data.synthetic import random_sensor_graph

    ei, ew = random_sensor_graph(8600, neighbours=10, seed=0)
    op = GraphOperator.from_edges(ei, ew, 8600)
    assert not op.is_dense
    assert op.memory_bytes() < 100 * 2**20
    assert op.nnz == torch.unique(ei[0] * 8600 + ei[1]).numel() + 8600  # + the diagonal
    x = torch.randn(8600, 3)
    dense_rows = op.to_dense()[:50]
    assert torch.allclose(op.propagate_flat(x)[:50], dense_rows @ x, atol=1e-5)


def test_no_edges_is_identity_propagation():
    fast, _ = _pair(2, 2, 2)
    x = torch.randn(1, 1, 3, 2)
    empty = torch.zeros(2, 0, dtype=torch.long)
    out = fast(x, empty)
    expected = fast.lins[0](x) + fast.lins[1](x) + fast.bias
    assert torch.allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("threshold", [0.0, 1.1])  # dense and sparse operators
def test_residual_folded_into_theta0_equals_adding_it(threshold):
    torch.manual_seed(3)
    ei, ew = toy_graph(7)
    conv = FastChebConv(3, 4, K=3, dense_threshold=threshold)
    x = torch.randn(2, 5, 7, 3, requires_grad=True)
    residual = torch.randn(4, 3, requires_grad=True)
    folded = conv(x, ei, ew, residual=residual)
    added = conv(x, ei, ew) + x @ residual.t()
    assert torch.allclose(folded, added, atol=1e-5)
    g = torch.randn_like(folded)
    grads = torch.autograd.grad(folded, (x, residual, conv.lins[0].weight), g)
    expected = torch.autograd.grad(added, (x, residual, conv.lins[0].weight), g)
    for a, b in zip(grads, expected, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_grouped_products_can_be_switched_off_and_give_the_same_numbers():
    from pygkd.nn.layers.spatial import grouped_products, rows_per_group
    from pygkd.train.evaluate import flop_counter

    torch.manual_seed(0)
    ei, ew = toy_graph(5)
    x = torch.randn(8, 6, 5, 2)
    assert rows_per_group(8 * 6 * 5, 2, 2) == 16
    products = 2 * 240 * 2 * 2  # one Theta_k product [240, 2] @ [2, 2], 2 FLOPs per MAC
    for K in (1, 3):
        conv = FastChebConv(2, 2, K=K)
        grouped = conv(x, ei, ew)
        with grouped_products(False):
            plain = conv(x, ei, ew)
            with flop_counter() as counter:
                conv(x, ei, ew)
        assert torch.allclose(grouped, plain, atol=1e-6)
        with flop_counter() as grouped_counter:
            conv(x, ei, ew)
        # every Theta_k product is counted (the in-place ones too); grouped, each costs 16x
        if K == 1:
            assert counter.get_total_flops() == products
        assert grouped_counter.get_total_flops() - counter.get_total_flops() == 15 * K * products


@pytest.fixture
def narrow_row_path(monkeypatch):
    """The channel-last path for the narrow layers of these tests (it serves 16+ channels)."""
    from pygkd.nn.layers import spatial

    monkeypatch.setattr(spatial, "ROW_PATH_CHANNELS", 1)


def _sparse_layer_and_graph(cin, cout, K, dtype=torch.float32):
    torch.manual_seed(1)
    ei, ew = toy_graph(7)
    conv = FastChebConv(cin, cout, K=K, dense_threshold=1.1).to(dtype)  # always sparse
    return conv, conv.build_operator(torch.zeros(1, 7, cin, dtype=dtype), ei, ew)


@pytest.mark.parametrize("K", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_channel_last_row_path_equals_the_node_major_path(K, dtype, monkeypatch,
                                                           narrow_row_path):
    from pygkd.nn.layers import operator

    conv, op = _sparse_layer_and_graph(3, 4, K, dtype)
    assert op.gathers_rows(2 * 5)
    x = torch.randn(2, 5, 7, 3, dtype=dtype, requires_grad=True)
    residual = torch.randn(4, 3, dtype=dtype)
    calls = []
    real = operator.GraphOperator.propagate_rows
    monkeypatch.setattr(operator.GraphOperator, "propagate_rows",
                        lambda self, rows, scale=1.0: calls.append(rows.shape) or
                        real(self, rows, scale))
    out = conv(x, operator=op, residual=residual)
    assert len(calls) == K - 1 and out.dtype == dtype and out.is_contiguous()
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, [x, *conv.parameters()], g)
    with row_path(False):  # the node-major path
        assert not conv.takes_row_path(x, op)
        expected = conv(x, operator=op, residual=residual)
    assert len(calls) == K - 1  # not called again
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(out, expected, atol=tol)
    for a, b in zip(grads, torch.autograd.grad(expected, [x, *conv.parameters()], g),
                    strict=True):
        assert torch.allclose(a, b, atol=tol * 10)


def test_row_path_gradients_are_exact_to_second_order(narrow_row_path):
    conv, op = _sparse_layer_and_graph(2, 3, 3, torch.float64)
    x = torch.randn(2, 3, 7, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: conv(v, operator=op), (x,))
    assert torch.autograd.gradgradcheck(lambda v: conv(v, operator=op), (x,))


def test_row_path_counts_the_same_flops_as_the_node_major_path(narrow_row_path):
    from pygkd.nn.layers.spatial import grouped_products
    from pygkd.train.evaluate import flop_counter

    conv, op = _sparse_layer_and_graph(3, 4, 3)
    x = torch.randn(2, 5, 7, 3)
    counts = []
    for rows in (True, False):
        with row_path(rows), grouped_products(False), flop_counter() as counter:
            conv(x, operator=op)
        counts.append(counter.get_total_flops())
    # three Theta_k products [70, 3] @ [3, 4] and two propagations of 10 x 3 columns
    assert counts[0] == counts[1] == 3 * 2 * 70 * 3 * 4 + 2 * 2 * op.nnz * 10 * 3


def test_propagate_rows_matches_the_operator_and_caches_one_expansion():
    _, op = _sparse_layer_and_graph(3, 3, 2)
    x = torch.randn(4, 5, 7, 3)
    rows = op.propagate_rows(x.reshape(-1, 3)).view_as(x)
    assert torch.allclose(rows, op(x), atol=1e-6)
    assert torch.allclose(op.propagate_rows(x.reshape(-1, 3), 2.0).view_as(x), 2 * op(x),
                          atol=1e-6)
    cached = op._rows_cache
    assert cached[0] == 20
    op.propagate_rows(x[:1].reshape(-1, 3))  # fewer slices: a prefix, no rebuild
    assert op._rows_cache is cached
    op.double()  # another dtype: rebuilt in it
    out = op.propagate_rows(x.double().reshape(-1, 3))
    assert op._rows_cache[1][1] == torch.float64 and out.dtype == torch.float64
    with pytest.raises(ValueError, match=r"Expected rows \[L \* 7, C\] \(got \(10, 3\)\)"):
        op.propagate_rows(torch.randn(10, 3))


def test_row_gather_is_refused_beyond_its_limit_and_for_dense_operators(monkeypatch):
    from pygkd.nn.layers import operator

    _, op = _sparse_layer_and_graph(3, 3, 2)
    monkeypatch.setattr(operator, "ROW_GATHER_ENTRIES", 3 * op.nnz)
    assert op.gathers_rows(3) and not op.gathers_rows(4)
    with pytest.raises(ValueError, match="4 slices of a sparse operator .* use propagate_flat"):
        op.propagate_rows(torch.randn(4 * 7, 3))
    dense = GraphOperator.from_edges(*toy_graph(7), num_nodes=7)
    assert dense.is_dense and not dense.gathers_rows(1)


def test_traced_forward_keeps_the_node_major_path(monkeypatch, narrow_row_path):
    from pygkd.nn.layers import operator

    conv, op = _sparse_layer_and_graph(3, 4, 3)
    monkeypatch.setattr(torch.jit, "is_tracing", lambda: True)
    monkeypatch.setattr(operator.GraphOperator, "propagate_rows",
                        lambda *a, **k: pytest.fail("row gather while tracing"))
    assert conv(torch.randn(2, 5, 7, 3), operator=op).shape == (2, 5, 7, 4)


@pytest.mark.parametrize("cin,cout,rows", [(15, 16, False), (16, 15, False), (16, 16, True),
                                            (16, 17, False)])  # 17 x 70 rows: over the bytes
def test_wide_layers_with_small_features_take_the_row_path(cin, cout, rows, monkeypatch):
    from pygkd.nn.layers import operator, spatial

    monkeypatch.setattr(spatial, "ROW_PATH_BYTES", 16 * 70 * 4)

    calls = []
    real = operator.GraphOperator.propagate_rows
    monkeypatch.setattr(operator.GraphOperator, "propagate_rows",
                        lambda self, r, scale=1.0: calls.append(1) or real(self, r, scale))
    conv, op = _sparse_layer_and_graph(cin, cout, 3)
    assert op.gathers_rows(10)
    assert conv(torch.randn(2, 5, 7, cin), operator=op).shape == (2, 5, 7, cout)
    assert len(calls) == (2 if rows else 0)
