"""What the figures show, against direct computations."""

import dataclasses

import numpy as np
import pytest
import torch

from pygkd.distill import FeatureCapture
from pygkd.errors import InputError
from pygkd.nn import PRESETS, STGCN
from pygkd.report import analysis
from pygkd.testing import toy_forecast_dataset
from pygkd.train.evaluate import forecast_split


@pytest.fixture(scope="module")
def setup():
    ds = toy_forecast_dataset()
    torch.manual_seed(0)
    return ds, STGCN(6, [[1, 4, 8], [8, 4, 8]]), STGCN(6, PRESETS["student"])


def test_hidden_features_are_the_last_block_averaged_over_time(setup):
    ds, teacher, _ = setup
    index = torch.tensor([0, 2, 5])
    feats = analysis.hidden_features(teacher, ds, "test", index, batch_size=2)
    x, _ = ds.batch("test", index)
    with FeatureCapture(teacher, ["blocks.1"]) as cap:
        teacher(x, ds.edge_index, ds.edge_weight)
    expected = cap.features["blocks.1"].mean(dim=1)
    assert feats.shape == (3, 6, 8)
    torch.testing.assert_close(feats, expected)


def test_channel_map_recovers_an_affine_map():
    torch.manual_seed(1)
    source = torch.randn(20, 6, 3)
    true = torch.randn(3, 5)
    target = source @ true + torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0])
    w = analysis.fit_channel_map(source, target)
    torch.testing.assert_close(w[:3], true, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(w[3], torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0]), atol=1e-4,
                               rtol=1e-4)
    with pytest.raises(InputError, match="same windows and nodes"):
        analysis.fit_channel_map(source, target[:5])


def test_tsne_puts_identical_representations_together():
    torch.manual_seed(0)
    teacher = torch.randn(30, 4, 3) + 5 * torch.arange(3).repeat(10)[:, None, None]
    identity = torch.cat([torch.eye(3), torch.zeros(1, 3)])
    t_xy, s_xy = analysis.tsne_embedding(teacher, teacher.clone(), identity)
    assert t_xy.shape == s_xy.shape == (30, 2)
    gap = np.linalg.norm(t_xy - s_xy, axis=1).mean()
    spread = np.linalg.norm(t_xy - t_xy.mean(0), axis=1).mean()
    assert gap < 0.1 * spread
    with pytest.raises(InputError, match="give a channel_map"):
        analysis.tsne_embedding(teacher, teacher[..., :2])


def test_sensor_forecast_matches_the_split_forecast(setup):
    ds, teacher, student = setup
    hours, truth, preds = analysis.sensor_forecast({"T": teacher, "S": student}, ds, sensor=4,
                                                   step=3)
    pred, true = forecast_split(teacher, ds, "test", horizon=3)
    np.testing.assert_allclose(preds["T"], pred[:, 2, 4].numpy(), rtol=1e-5)
    np.testing.assert_allclose(truth, true[:, 2, 4].numpy(), rtol=1e-6)
    start = int(ds.starts["test"][0]) % ds.steps_per_day
    assert hours[0] == pytest.approx((start + ds.n_in + 2) * ds.minutes_per_step / 60)
    assert len(hours) == ds.num_samples("test") and set(preds) == {"T", "S"}
    with pytest.raises(InputError, match="--sensor: expected 0..5"):
        analysis.sensor_forecast({"T": teacher}, ds, sensor=6)
    with pytest.raises(InputError, match="--day: the test split has 1 day"):
        analysis.sensor_forecast({"T": teacher}, ds, sensor=0, day=1)


def test_busiest_sensor():
    ds = toy_forecast_dataset()
    series = ds.series.clone()
    series[:, 2] *= 10
    assert analysis.busiest_sensor(dataclasses.replace(ds, series=series)) == 2
