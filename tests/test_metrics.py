import pytest
import torch

from pygkd.metrics import horizon_metrics, mae, mape, rmse


def test_metrics_against_hand_values():
    pred = torch.tensor([[1.0, 2.0], [3.0, 8.0]])
    target = torch.tensor([[2.0, 2.0], [1.0, 4.0]])
    # errors 1, 0, 2, 4
    assert float(mae(pred, target)) == pytest.approx(7 / 4)
    assert float(rmse(pred, target)) == pytest.approx((21 / 4) ** 0.5)
    assert float(mape(pred, target)) == pytest.approx(100 * (0.5 + 0 + 2 + 1) / 4)
    assert mae(pred, target, dim=0).tolist() == pytest.approx([0.5, 3.0])


def test_mape_ignores_near_zero_targets():
    pred, target = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    assert float(mape(pred, target)) == pytest.approx(50.0)


def test_horizon_metrics_picks_steps():
    target = torch.zeros(2, 9, 3)
    pred = torch.arange(1, 10, dtype=torch.float).view(1, 9, 1).expand(2, 9, 3)
    out = horizon_metrics(pred, target)
    assert [out[k]["MAE"] for k in ("15min", "30min", "45min")] == [3.0, 6.0, 9.0]
    assert out["45min"]["RMSE"] == pytest.approx(9.0)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same shape"):
        mae(torch.zeros(2), torch.zeros(3))
