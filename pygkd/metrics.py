r"""Forecast error metrics on de-normalised values (paper Sec. 4.3).

Each metric is a pure function with a ``reduction`` argument, after tsl's
``tsl/metrics/torch/functional.py``. MAPE is masked as DCRNN and Graph WaveNet mask it: targets
near zero (``|y|`` below 1 % of the mean ``|y|``, and below ``1e-5``) are left out, so true
zeros of count data and near-zero values of zero-crossing series do not blow it up.

.. math::
    \mathrm{MAE} = \operatorname{mean} |\hat y - y|, \quad
    \mathrm{RMSE} = \sqrt{\operatorname{mean} (\hat y - y)^2}, \quad
    \mathrm{MAPE} = 100 \cdot \operatorname{mean}_{|y| \ge \epsilon} |\hat y - y| / |y|,
    \ \epsilon = \max(10^{-5}, 0.01 \operatorname{mean} |y|)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch  # noqa: F401  (the doctests use it)
from torch import Tensor

from pygkd.data.timing import horizon_label

__all__ = ["mae", "rmse", "mape", "horizon_metrics", "MAPE_EPS", "MAPE_RELATIVE",
           "MAPE_MASK_NOTE", "HORIZON_MINUTES"]

#: Targets with ``|y| < MAPE_EPS`` are left out of MAPE ...
MAPE_EPS = 1e-5
#: ... and those below this share of the mean ``|y|``.
MAPE_RELATIVE = 0.01
#: How tables state the mask.
MAPE_MASK_NOTE = "MAPE leaves out targets with |y| < 1 % of the mean |y| (true zeros)."
#: Horizons reported in every table (15, 30, 45 min = steps 3, 6, 9 at 5-min steps).
HORIZON_MINUTES = (15, 30, 45)


def _check(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"Expected 'pred' and 'target' of the same shape (got {tuple(pred.shape)} and "
            f"{tuple(target.shape)})"
        )


def _reduce_over(x: Tensor, dim: int | None) -> Tensor:
    return x.mean() if dim is None else x.transpose(0, dim).reshape(x.size(dim), -1).mean(1)


def mae(pred: Tensor, target: Tensor, dim: int | None = None) -> Tensor:
    """Mean absolute error; with ``dim``, one value per index of that dimension.

    Example:
        >>> mae(torch.tensor([[1., 2.], [3., 4.]]), torch.tensor([[1., 1.], [1., 1.]]), dim=0)
        tensor([0.5000, 2.5000])
    """
    _check(pred, target)
    return _reduce_over((pred - target).abs(), dim)


def rmse(pred: Tensor, target: Tensor, dim: int | None = None) -> Tensor:
    """Root mean squared error; with ``dim``, one value per index of that dimension.

    Example:
        >>> rmse(torch.tensor([3., 0.]), torch.tensor([0., 4.]))
        tensor(3.5355)
    """
    _check(pred, target)
    return _reduce_over((pred - target) ** 2, dim).sqrt()


def mape(pred: Tensor, target: Tensor, dim: int | None = None) -> Tensor:
    """Mean absolute percentage error (%), ignoring targets near zero (``|y|`` below 1 % of
    the mean ``|y|``, or below ``1e-5``).

    Example:
        >>> round(float(mape(torch.tensor([1.1, 5.0, 2.0]), torch.tensor([1.0, 0.0, 4.0]))), 4)
        30.0
    """
    _check(pred, target)
    floor = max(MAPE_EPS, MAPE_RELATIVE * float(target.abs().mean())) if target.numel() else 1.0
    valid = (target.abs() >= floor).to(pred.dtype)
    ape = (pred - target).abs() / target.abs().clamp_min(floor) * valid
    if dim is None:
        return 100.0 * ape.sum() / valid.sum().clamp_min(1.0)
    ape = ape.transpose(0, dim).reshape(ape.size(dim), -1)
    valid = valid.transpose(0, dim).reshape(valid.size(dim), -1)
    return 100.0 * ape.sum(1) / valid.sum(1).clamp_min(1.0)


def horizon_metrics(
    pred: Tensor, target: Tensor, steps: Sequence[int] = (3, 6, 9),
    minutes_per_step: float | None = 5
) -> dict[str, dict[str, float]]:
    """MAE / RMSE / MAPE at chosen forecast steps.

    Args:
        pred (Tensor): de-normalised forecast ``[B, H, N]``.
        target (Tensor): de-normalised truth ``[B, H, N]``.
        steps (sequence of int): 1-based horizons to report (default: 3, 6, 9 = 15/30/45 min).
        minutes_per_step (float, optional): sampling step naming the horizons by duration
            ("15min", "2wk"); ``None`` names them by step ("step3").

    Returns:
        ``{"15min": {"MAE": ..., "RMSE": ..., "MAPE": ...}, ...}``

    Example:
        >>> p = torch.zeros(2, 3, 4); t = torch.ones(2, 3, 4)
        >>> horizon_metrics(p, t, steps=(1, 3))["15min"]["MAE"]
        1.0
    """
    _check(pred, target)
    if pred.dim() != 3:
        raise ValueError(f"Expected 'pred' as [batch, horizon, nodes] (got {tuple(pred.shape)})")
    out: dict[str, dict[str, float]] = {}
    for step in steps:
        if not 1 <= step <= pred.size(1):
            raise ValueError(f"Expected steps in 1..{pred.size(1)} (got {step})")
        p, t = pred[:, step - 1], target[:, step - 1]
        out[horizon_label(step, minutes_per_step)] = {
            "MAE": float(mae(p, t)),
            "RMSE": float(rmse(p, t)),
            "MAPE": float(mape(p, t)),
        }
    return out
