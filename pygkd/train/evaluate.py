"""Autoregressive multi-step forecasting, persistence baseline, metrics and latency
(paper Sec. 4.3)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from pygkd.data.windows import ForecastDataset
from pygkd.metrics import horizon_metrics

logger = logging.getLogger(__name__)

__all__ = ["LATENCY_SENSOR_WINDOWS", 
    "autoregressive_forecast",
    "forecast_split",
    "persistence_split",
    "evaluate_model",
    "measure_latency",
    "count_parameters",
    "count_flops",
    "flop_counter",
]


def autoregressive_forecast(
    step: Callable[[Tensor], Tensor], x: Tensor, horizon: int, future: Tensor | None = None
) -> Tensor:
    """Forecast ``horizon`` steps with a one-step model (paper Fig. 2).

    Each prediction is appended as the newest input step and the oldest step is dropped.
    With extra input channels (``C > 1``) the appended step takes them from ``future``, or,
    without it, repeats the last input step's.

    Args:
        step: maps ``x [B, T, N, C]`` to the next step ``[B, 1, N, 1]`` (channel 0 is the
            forecast quantity).
        x (Tensor): ``[B, T, N, C]`` input window.
        horizon (int): number of steps :math:`H`.
        future (Tensor, optional): ``[B, H, N, C - 1]`` the extra inputs of the forecast
            steps, where they are known in advance
            (:meth:`~pygkd.data.ForecastDataset.future_inputs`).

    Returns:
        Tensor: ``[B, H, N]``.

    Example:
        >>> last = lambda x: x[:, -1:, :, :1] + 1  # "tomorrow = today + 1"
        >>> autoregressive_forecast(last, torch.zeros(1, 3, 2, 1), 3)[0, :, 0].tolist()
        [1.0, 2.0, 3.0]
    """
    outputs = []
    for h in range(horizon):
        nxt = step(x)  # [B, 1, N, 1]
        outputs.append(nxt[:, 0, :, 0])
        if x.size(-1) > 1:
            extra = x[:, -1:, :, 1:] if future is None else future[:, h : h + 1]
            nxt = torch.cat([nxt, extra], dim=-1)
        x = torch.cat([x[:, 1:], nxt], dim=1)
    return torch.stack(outputs, dim=1)


@torch.no_grad()
def forecast_split(
    model: nn.Module, dataset: ForecastDataset, split: str, batch_size: int = 200,
    horizon: int | None = None, limit: int | None = None,
) -> tuple[Tensor, Tensor]:
    """De-normalised ``(forecast, truth)``, each ``[S, H, N]``, over a split's windows."""
    horizon = horizon or dataset.n_out
    was_training = model.training
    model.eval()
    dataset = dataset.to(*_model_place(model))
    ei, ew = dataset.edge_index, dataset.edge_weight
    preds, truths = [], []
    for x, y, index in dataset.batches(split, batch_size, limit=limit, with_index=True):
        future = dataset.future_inputs(split, index, horizon)
        preds.append(autoregressive_forecast(lambda z: model(z, ei, ew), x, horizon,
                                             future).cpu())
        truths.append(y[:, :horizon].cpu())
    model.train(was_training)
    scale = dataset.scaler
    return scale.inverse(torch.cat(preds)), scale.inverse(torch.cat(truths))


def _model_place(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of a model's parameters (CPU float32 without any)."""
    param = next(iter(model.parameters()), None)
    if param is None:
        return torch.device("cpu"), torch.float32
    return param.device, param.dtype


def persistence_split(dataset: ForecastDataset, split: str) -> tuple[Tensor, Tensor]:
    """Persistence baseline: the last observed value for every future step (de-normalised)."""
    x, y = dataset.batch(split, torch.arange(dataset.num_samples(split)))
    x, y = x.cpu(), y.cpu()
    pred = x[:, -1:, :, 0].expand_as(y)
    return dataset.scaler.inverse(pred), dataset.scaler.inverse(y)


def evaluate_model(
    model: nn.Module, dataset: ForecastDataset, split: str = "test", batch_size: int = 200
) -> dict[str, dict[str, float]]:
    """MAE / RMSE / MAPE at the dataset's horizons (the paper's 15, 30, 45 min = steps 3, 6,
    9) on de-normalised values."""
    pred, truth = forecast_split(model, dataset, split, batch_size)
    return horizon_metrics(pred, truth, steps=_steps(dataset),
                           minutes_per_step=dataset.minutes_per_step)


def _steps(dataset: ForecastDataset) -> tuple[int, ...]:
    return tuple(dataset.horizons)


#: The most sensor-windows a latency batch holds: the paper's 1,140 windows of PeMSD7(M).
LATENCY_SENSOR_WINDOWS = 1140 * 228


def measure_latency(
    model: nn.Module, dataset: ForecastDataset, batch_size: int = 1140, repeats: int = 20,
    split: str = "test",
) -> dict[str, float]:
    """Mean and best wall time of one forward pass on a batch of test windows.

    The paper times a batch of 1,140 samples (of 228 sensors) over 100 runs; when the split
    has fewer windows they are repeated to fill the batch. On larger graphs the batch is
    bounded to the same number of sensor-windows (:data:`LATENCY_SENSOR_WINDOWS`: 1,140 x
    228), so a 675-sensor graph is timed on 385 windows, not 1,140; the result names the batch.
    """
    n = dataset.num_samples(split)
    bound = max(1, LATENCY_SENSOR_WINDOWS // max(1, dataset.num_nodes))
    if batch_size > bound:
        logger.info(f"latency: batch bounded to {bound} windows of {dataset.num_nodes} sensors "
                    f"(asked {batch_size}; at most {LATENCY_SENSOR_WINDOWS:,} sensor-windows)")
        batch_size = bound
    index = torch.arange(batch_size) % n
    dataset = dataset.to(*_model_place(model))
    x, _ = dataset.batch(split, index)
    ei, ew = dataset.edge_index, dataset.edge_weight
    model.eval()
    times = []
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    with torch.no_grad():
        model(x, ei, ew)  # warm-up
        for _ in range(repeats):
            sync()
            start = time.perf_counter()
            model(x, ei, ew)
            sync()
            times.append(time.perf_counter() - start)
    return {"batch": batch_size, "repeats": repeats, "mean_s": sum(times) / len(times),
            "min_s": min(times)}


def count_parameters(model: nn.Module, nonzero: bool = False) -> int:
    """Trainable parameters (or only the nonzero ones, for masked models)."""
    if nonzero:
        return int(sum(int((p != 0).sum()) for p in model.parameters()))
    return int(sum(p.numel() for p in model.parameters()))


def flop_counter() -> Any:
    """A :class:`~torch.utils.flop_counter.FlopCounterMode` (no display) that also counts the
    in-place ``addmm_`` (PyTorch's registry has only ``addmm``), with which
    :class:`~pygkd.nn.layers.FastChebConv` accumulates its :math:`\\Theta_k` products."""
    from torch.utils.flop_counter import FlopCounterMode

    def addmm_flops(self_shape: Any, a_shape: Any, b_shape: Any, *args: Any,
                    **kwargs: Any) -> int:
        return 2 * a_shape[0] * a_shape[1] * b_shape[1]  # [m, k] @ [k, n]: 2 m k n

    return FlopCounterMode(display=False, custom_mapping={torch.ops.aten.addmm_: addmm_flops})


def count_flops(model: nn.Module, x: Tensor, *args) -> int:
    """Floating-point operations of one forward pass, by ``torch.utils.flop_counter``.

    Counts matrix products and convolutions (2 per multiply-add), as PyTorch's counter does;
    element-wise operations are not counted. Sparse graph products count ``2 * nnz * columns``
    per propagation (a formula registered for ``pygkd::csr_matmul``). Narrow products are
    counted ungrouped (:func:`~pygkd.nn.layers.spatial.grouped_products`).
    """
    from pygkd.nn.layers.spatial import grouped_products

    model.eval()
    with torch.no_grad(), grouped_products(False), flop_counter() as counter:
        model(x, *args)
    return int(counter.get_total_flops())
