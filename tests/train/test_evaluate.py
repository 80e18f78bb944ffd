import torch

from pygkd.nn import STGCN
from pygkd.testing import toy_forecast_dataset
from pygkd.train import (
    autoregressive_forecast,
    count_flops,
    count_parameters,
    forecast_split,
    persistence_split,
)


def test_autoregressive_feeds_predictions_back():
    seen = []

    def step(x):
        seen.append(x[0, :, 0, 0].tolist())
        return x[:, -1:, :, :1] * 2 + x[:, :1, :, :1]  # depends on oldest and newest step

    x = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    out = autoregressive_forecast(step, x, 3)
    assert out[0, :, 0].tolist() == [7.0, 16.0, 35.0]  # 2*3+1, 2*7+2, 2*16+3
    assert seen == [[1.0, 2.0, 3.0], [2.0, 3.0, 7.0], [3.0, 7.0, 16.0]]


def test_persistence_repeats_last_observation():
    ds = toy_forecast_dataset()
    pred, truth = persistence_split(ds, "test")
    x, _ = ds.batch("test", torch.arange(ds.num_samples("test")))
    last = ds.scaler.inverse(x[:, -1, :, 0])
    assert torch.allclose(pred[:, 4], last) and pred.shape == truth.shape


def test_forecast_split_is_denormalised_and_ordered():
    ds = toy_forecast_dataset()

    class Last(torch.nn.Module):
        def forward(self, x, ei, ew):
            return x[:, -1:, :, :1]

    pred, truth = forecast_split(Last(), ds, "val", batch_size=7)
    p_pred, p_truth = persistence_split(ds, "val")
    assert torch.allclose(pred, p_pred, atol=1e-5) and torch.equal(truth, p_truth)


def test_parameter_and_flop_counts():
    ds = toy_forecast_dataset()
    model = STGCN(6, [[1, 2, 4], [4, 2, 8]])
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        for param in model.parameters():
            param.fill_(0.5)
        model.output.fc.bias.zero_()
    assert count_parameters(model, nonzero=True) == count_parameters(model) - 6
    x, _ = ds.batch("test", torch.arange(1))
    flops = count_flops(model, x, ds.edge_index, ds.edge_weight)
    # first gated conv alone: 2 * (Kt * c_in * 2 c_t) MACs * 10 steps * 6 nodes
    assert flops > 2 * 3 * 1 * 4 * 10 * 6
    x2, _ = ds.batch("test", torch.arange(2))
    assert count_flops(model, x2, ds.edge_index, ds.edge_weight) == 2 * flops
    # every product is counted (the in-place Chebyshev ones too): the same count as the
    # unfused reference layers, less the residual projection that today's path folds into the
    # kernel of block 2's first temporal conv (4 -> 2 channels, 6 steps x 6 nodes)
    from pygkd.bench.reference import reference_path

    with reference_path():
        reference = count_flops(model, x, ds.edge_index, ds.edge_weight)
    assert reference - flops == 2 * (6 * 6) * 4 * 2
