import numpy as np
import pytest
import torch

from pygkd.data import ForecastDataset, SignalBatcher, TrafficData, parse_split, window_starts
from pygkd.errors import InputError
from pygkd.testing import toy_forecast_dataset


@pytest.mark.parametrize("spec, days, expected", [
    ("5/1/1", 7, (5, 1, 1)), ("34/5/5", 44, (34, 5, 5)), ("6:2:2", 62, (38, 12, 12)),
    ("0.7:0.15:0.15", 8, (6, 1, 1)),
])
def test_parse_split(spec, days, expected):
    assert parse_split(spec, days) == expected


@pytest.mark.parametrize("spec, message", [
    ("5-1-1", "expected day counts"), ("5/0/1", "at least one day"), ("6/1/1", "only 7"),
    ("a:b:c", "expected day counts"),
])
def test_bad_split(spec, message):
    with pytest.raises(InputError, match=message):
        parse_split(spec, 7)


def test_windows_never_cross_a_day():
    starts = window_starts(0, 3, steps_per_day=48, length=21)
    assert len(starts) == 3 * (48 - 21 + 1)
    assert np.all(starts // 48 == (starts + 20) // 48)


def _ramp_data(days=3, per_day=30, nodes=2):
    steps = np.arange(days * per_day, dtype=float)
    speeds = np.stack([steps + 10 * (n + 1) for n in range(nodes)], axis=1)
    return TrafficData("ramp", speeds, np.array([[0, 1.0], [1.0, 0]]), steps_per_day=per_day)


def test_batches_are_the_right_windows_and_scaled_with_train_stats():
    data = _ramp_data()
    ds = ForecastDataset.from_traffic(data, split="1/1/1")
    train_values = data.speeds[:30]
    assert ds.scaler.mean == pytest.approx(train_values.mean())
    assert ds.scaler.std == pytest.approx(train_values.std())
    x, y = ds.batch("val", torch.tensor([0, 2]))
    assert x.shape == (2, 12, 2, 1) and y.shape == (2, 9, 2)
    raw_x = ds.scaler.inverse(x[..., 0])
    raw_y = ds.scaler.inverse(y)
    # validation day starts at step 30; window 2 starts at 32; node 0 = step + 10
    assert raw_x[1, :, 0].tolist() == pytest.approx([float(s + 10) for s in range(32, 44)])
    assert raw_y[1, :, 0].tolist() == pytest.approx([float(s + 10) for s in range(44, 53)])
    assert ds.num_samples("test") == 30 - 21 + 1


def test_signal_round_trip_through_vectorised_batcher():
    ds = toy_forecast_dataset()
    signal = ds.signal("train")
    assert signal.snapshot_count == ds.num_samples("train")
    snapshot = signal[3]
    assert tuple(snapshot.x.shape) == (6, 1, 12) and tuple(snapshot.y.shape) == (6, 9)
    batcher = SignalBatcher(signal)
    index = torch.tensor([0, 5, 7])
    bx, by = batcher.batch(index)
    dx, dy = ds.batch("train", index)
    assert torch.equal(bx, dx) and torch.equal(by, dy)
    assert torch.equal(batcher.edge_index, ds.edge_index)


def test_batches_cover_split_once():
    ds = toy_forecast_dataset()
    g = torch.Generator().manual_seed(0)
    sizes = [x.size(0) for x, _ in ds.batches("train", 10, shuffle=True, generator=g)]
    assert sum(sizes) == ds.num_samples("train") == 28


def test_window_dataset_feeds_a_dataloader_the_same_batches():
    from pygkd.testing import toy_forecast_dataset

    data = toy_forecast_dataset()
    windows = data.windows("val")
    assert len(windows) == data.num_samples("val")
    loader = torch.utils.data.DataLoader(windows, batch_size=5, shuffle=False)
    x, y = next(iter(loader))
    ref_x, ref_y = data.batch("val", torch.arange(5))
    assert torch.equal(x, ref_x) and torch.equal(y, ref_y)
    assert sum(b[0].shape[0] for b in loader) == len(windows)
    with pytest.raises(IndexError):
        windows[len(windows)]
