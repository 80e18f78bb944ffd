"""A user's own PyG Temporal signal trains and distils a student through the API with a few
lines of glue."""

import numpy as np
import pytest
import torch

from pygkd.compat import static_graph_temporal_signal_class


def _lagged_count_signal(nodes=8, steps=160, lags=4, seed=0):
    """PyG Temporal's own kind of data (as its Chickenpox loader): lags as features [N, L],
    the next value as target [N], snapshots one step apart."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None]
    series = rng.poisson(3 + 2 * np.sin(2 * np.pi * t / 52 + rng.uniform(0, 6, nodes))).astype(
        float)
    src = np.arange(nodes)
    edge_index = np.concatenate([np.stack([src, (src + 1) % nodes]),
                                 np.stack([(src + 1) % nodes, src])], axis=1)
    features = [series[k:k + lags].T for k in range(steps - lags)]
    targets = [series[k + lags] for k in range(steps - lags)]
    cls = static_graph_temporal_signal_class()
    return cls(edge_index, np.ones(edge_index.shape[1]), features, targets), series


def test_own_signal_with_ten_lines_of_glue(tmp_path):
    signal, series = _lagged_count_signal()
    # ---- the user's glue: 4 imports, 6 lines ----
    from pygkd.data import ForecastDataset
    from pygkd.distill import DistillObjective
    from pygkd.nn.models import build_forecaster
    from pygkd.train import DistillConfig, TrainConfig, Trainer, evaluate_model

    data = ForecastDataset.from_signal(signal, split="0.7/0.1/0.2")
    teacher = build_forecaster("gconvgru", data.num_nodes, hidden=16, n_in=data.n_in)
    Trainer(teacher, data, TrainConfig(epochs=3), tmp_path / "t").fit(progress=False)
    student = build_forecaster("tgcn", data.num_nodes, hidden=4, n_in=data.n_in)
    kd = DistillObjective(teacher, DistillConfig(loss="stcd"), data.edge_index, data.edge_weight)
    Trainer(student, data, TrainConfig(epochs=3), tmp_path / "s", step_loss=kd).fit(progress=False)
    # ---- end of glue ----
    assert data.n_in == 4 and data.n_out == 1 and data.horizons == (1,)
    assert np.allclose(data.scaler.inverse(data.series).numpy(), series, atol=1e-4)
    result = evaluate_model(student, data)
    assert list(result) == ["step1"] and all(np.isfinite(v) for v in result["step1"].values())


def test_signals_that_are_not_sliding_windows_are_refused():
    from pygkd.data import ForecastDataset
    from pygkd.errors import InputError

    signal, _ = _lagged_count_signal()
    shuffled = static_graph_temporal_signal_class()(
        signal.edge_index, signal.edge_weight, list(reversed(signal.features)),
        list(reversed(signal.targets)))
    with pytest.raises(InputError, match="not sliding windows one step apart"):
        ForecastDataset.from_signal(shuffled)


def test_signal_batcher_takes_next_step_targets():
    from pygkd.data import SignalBatcher

    signal, series = _lagged_count_signal()
    x, y = SignalBatcher(signal).batch(torch.tensor([0, 5]))
    assert tuple(x.shape) == (2, 4, 8, 1) and tuple(y.shape) == (2, 1, 8)
    assert torch.allclose(y[1, 0], torch.as_tensor(series[9], dtype=torch.float32))
