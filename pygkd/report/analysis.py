"""What the figures show, computed from models and data (no drawing here).

- :func:`hidden_features`: the representation that feeds the output layer (paper Sec. 4.2).
- :func:`tsne_embedding`: teacher and student representations in one 2-D t-SNE map.
- :func:`sensor_forecast`: one sensor's forecast and ground truth over a day (paper Fig. 4, 5).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from pygkd.data.windows import ForecastDataset
from pygkd.distill.hooks import FeatureCapture
from pygkd.errors import InputError
from pygkd.train.evaluate import forecast_split

__all__ = ["hidden_features", "fit_channel_map", "tsne_embedding", "sensor_forecast",
           "busiest_sensor"]


@torch.no_grad()
def hidden_features(model: nn.Module, dataset: ForecastDataset, split: str, index: Tensor,
                    layer: str | None = None, batch_size: int = 200) -> Tensor:
    """The input of the output layer for windows ``index`` of ``split``, averaged over time.

    The layer is ``model.hidden_layer_name`` (STGCN: the last ST-Conv block) unless ``layer``
    names another. Its output ``[B, T_l, N, C]`` is averaged over the ``T_l`` steps.

    Returns:
        Tensor: ``[S, N, C]`` with ``S = len(index)``.
    """
    layer = layer or getattr(model, "hidden_layer_name", None)
    if layer is None:
        raise InputError(f"{type(model).__name__} has no hidden_layer_name: name the layer")
    was_training = model.training
    model.eval()
    param = next(model.parameters())
    dataset = dataset.to(param.device, param.dtype)
    out = []
    for i in range(0, index.numel(), batch_size):
        x, _ = dataset.batch(split, index[i:i + batch_size])
        with FeatureCapture(model, [layer], detach=True) as cap:
            model(x, dataset.edge_index, dataset.edge_weight)
        out.append(cap.features[layer].mean(dim=1).cpu())
    model.train(was_training)
    return torch.cat(out)


def fit_channel_map(source: Tensor, target: Tensor) -> Tensor:
    """Least-squares affine map of channels, shared by nodes: ``target ≈ [source, 1] @ W``.

    Args:
        source (Tensor): ``[S, N, C_s]`` (the student's features).
        target (Tensor): ``[S, N, C_t]`` (the teacher's features on the same windows).

    Returns:
        Tensor: ``W`` of shape ``[C_s + 1, C_t]`` (last row: the offset).

    Example:
        >>> s = torch.randn(4, 3, 2)
        >>> w = fit_channel_map(s, 2 * s[..., :1] + 1)
        >>> [round(v, 4) + 0.0 for v in w[:, 0].tolist()]  # + 0.0: no -0.0
        [2.0, 0.0, 1.0]
    """
    if source.shape[:2] != target.shape[:2]:
        raise InputError("Expected features of the same windows and nodes, "
                         f"got {tuple(source.shape)}"
                         f" and {tuple(target.shape)}")
    a = source.reshape(-1, source.size(-1)).double()
    a = torch.cat([a, torch.ones(a.size(0), 1, dtype=a.dtype, device=a.device)], dim=1)
    b = target.reshape(-1, target.size(-1)).double()
    return torch.linalg.lstsq(a, b).solution.float()


def tsne_embedding(teacher: Tensor, student: Tensor, channel_map: Tensor | None = None,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Teacher and student representations of the same samples in one t-SNE map.

    The student's channels are first mapped into the teacher's (``channel_map`` from
    :func:`fit_channel_map`, fitted on training windows) so both live in one space; each
    sample is then the flattened ``[N * C_t]`` vector, reduced by PCA to at most 50 dimensions
    and embedded by scikit-learn's t-SNE.

    Args:
        teacher (Tensor): ``[S, N, C_t]``; student (Tensor): ``[S, N, C_s]``.

    Returns:
        ``(teacher_xy [S, 2], student_xy [S, 2])``.
    """
    from pygkd.compat import require_extra

    require_extra("sklearn", "report", "t-SNE figures")
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if student.size(-1) != teacher.size(-1) and channel_map is None:
        raise InputError(f"Student has {student.size(-1)} channels and the teacher "
                         f"{teacher.size(-1)}: give a channel_map")
    if channel_map is not None:
        student = torch.cat([student, torch.ones(*student.shape[:2], 1)], dim=-1) @ channel_map
    n = teacher.size(0)
    points = torch.cat([teacher, student]).reshape(2 * n, -1).double().numpy()
    points = PCA(n_components=min(50, points.shape[0], points.shape[1]),
                 random_state=seed).fit_transform(points)
    xy = TSNE(n_components=2, perplexity=min(30.0, (2 * n - 1) / 3), init="pca",
              random_state=seed).fit_transform(points)
    return xy[:n], xy[n:]


def busiest_sensor(dataset: ForecastDataset, split: str = "test") -> int:
    """The sensor whose speed varies most over ``split`` (rush hours show best there)."""
    first = int(dataset.starts[split][0])
    last = int(dataset.starts[split][-1]) + dataset.n_in + dataset.n_out
    return int(dataset.series[first:last].std(dim=0).argmax())


def sensor_forecast(models: dict[str, nn.Module], dataset: ForecastDataset, sensor: int,
                    step: int = 3, split: str = "test", day: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Forecasts ``step`` steps ahead for one sensor over one day of ``split``.

    Args:
        models: label -> model, all on ``dataset``'s graph.
        sensor (int): node index in ``[0, N)``.
        step (int): horizon in steps (3 = 15 min at 5-min steps), ``1 <= step <= n_out``.
        day (int): which day of the split (0 = its first).

    Returns:
        ``(hours [S], truth [S], {label: forecast [S]})`` in the data's units, ``hours`` being
        the time of day of each forecast target.
    """
    if not 0 <= sensor < dataset.num_nodes:
        raise InputError(f"--sensor: expected 0..{dataset.num_nodes - 1}, got {sensor}")
    if not 1 <= step <= dataset.n_out:
        raise InputError(f"--step: expected 1..{dataset.n_out}, got {step}")
    starts = dataset.starts[split]
    period = dataset.steps_per_day or int(dataset.series.size(0))  # no day structure: one
    days = torch.div(starts, period, rounding_mode="floor")
    chosen = days.unique()
    if not 0 <= day < chosen.numel():
        raise InputError(f"--day: the {split} split has {chosen.numel()} day(s), got {day}")
    keep = (days == chosen[day]).nonzero().flatten()
    target_step = starts[keep] + dataset.n_in + step - 1
    hours = (target_step % period).double() * (dataset.minutes_per_step or 60.0) / 60
    sub = _subset(dataset, split, keep)
    truth, preds = None, {}
    for label, model in models.items():
        pred, true = forecast_split(model, sub, split, horizon=step)
        preds[label] = pred[:, step - 1, sensor].numpy()
        truth = true[:, step - 1, sensor].numpy()
    if truth is None:
        _, y = sub.batch(split, torch.arange(keep.numel()))
        truth = sub.scaler.inverse(y)[:, step - 1, sensor].cpu().numpy()
    return hours.numpy(), truth, preds


def _subset(dataset: ForecastDataset, split: str, keep: Tensor) -> ForecastDataset:
    import dataclasses

    starts = dict(dataset.starts)
    starts[split] = dataset.starts[split][keep]
    return dataclasses.replace(dataset, starts=starts)
