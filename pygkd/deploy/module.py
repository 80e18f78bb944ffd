r"""A trained forecaster as one self-contained module: raw readings in, forecasts out.

:class:`ForecastModule` holds the model with its graph operator baked in (an explicit buffer,
stored dense so that every runtime can run it), the training split's z-score statistics and the
whole autoregressive rollout (paper Fig. 2). Its one input is a window of raw readings
``[B, T, N, C]`` in the training data's units and its one output the forecasts ``[B, H, N]`` in
the same units, which is what :mod:`pygkd.deploy.export` writes to ONNX and ``torch.export``
files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from pygkd.errors import InputError
from pygkd.nn.layers import GraphOperator
from pygkd.nn.models.recurrent import RecurrentForecaster
from pygkd.nn.models.stgcn import STGCN
from pygkd.train.evaluate import autoregressive_forecast

__all__ = ["ForecastModule", "load_forecast_module"]


class ForecastModule(nn.Module):
    r"""Normalise, roll the one-step model out ``horizon`` steps, de-normalise.

    .. math::
        \hat X_{t+h} = \sigma\, f\big((X - \mu) / \sigma\big)_{h} + \mu, \quad h = 1..H

    Args:
        model (nn.Module): a one-step forecaster ``[B, T, N, C] -> [B, 1, N, 1]``: a model
            whose graph operator is cached (:meth:`STGCN.cache_graph
            <pygkd.nn.STGCN.cache_graph>`, :meth:`RecurrentForecaster.cache_graph
            <pygkd.nn.models.recurrent.RecurrentForecaster.cache_graph>`), or any model of the
            zoo with ``edge_index`` / ``edge_weight`` given (kept as buffers).
        mean (float), std (float): the training split's statistics (Eq. 15).
        horizon (int): forecast steps :math:`H`.
        sensor_ids (list of str, optional): column names, kept for predictions.
        minutes_per_step (int, optional): the sampling step of the training data.

    Shapes:
        - **input:** raw readings :math:`(B, T, N, C)`
        - **output:** forecasts :math:`(B, H, N)`

    Example:
        >>> from pygkd.nn import PRESETS
        >>> from pygkd.testing import toy_graph
        >>> ei, ew = toy_graph(5)
        >>> model = STGCN(5, PRESETS["student"]).cache_graph(ei, ew)
        >>> module = ForecastModule(model, mean=50.0, std=10.0, horizon=9)
        >>> module(torch.full((2, 12, 5, 1), 50.0)).shape
        torch.Size([2, 9, 5])
    """

    mean: Tensor
    std: Tensor
    model: Any

    def __init__(self, model: nn.Module, mean: float, std: float, horizon: int,
                 sensor_ids: list[str] | None = None,
                 minutes_per_step: int | None = None, edge_index: Tensor | None = None,
                 edge_weight: Tensor | None = None) -> None:
        super().__init__()
        self.cached = getattr(model, "graph_operator", None) is not None
        if not self.cached and edge_index is None:
            raise ValueError("Expected a model with a cached graph operator (cache_graph()) "
                             "or the graph (edge_index)")
        self.register_buffer("edge_index", edge_index)
        self.register_buffer("edge_weight", edge_weight)
        if horizon < 1:
            raise ValueError(f"Expected horizon >= 1 (got {horizon})")
        self.model = model.eval()
        dtype = next(model.parameters()).dtype
        self.register_buffer("mean", torch.tensor(float(mean), dtype=dtype))
        self.register_buffer("std", torch.tensor(float(std), dtype=dtype))
        #: the statistics in full precision (the buffers hold them in the model's dtype)
        self.statistics = (float(mean), float(std))
        self.horizon = int(horizon)
        self.sensor_ids = list(sensor_ids) if sensor_ids is not None else None
        self.minutes_per_step = minutes_per_step

    @property
    def input_steps(self) -> int:
        return int(self.model.n_in)

    @property
    def num_nodes(self) -> int:
        return int(self.model.num_nodes)

    @property
    def in_channels(self) -> int:
        return int(self.model.in_channels)

    def rollout(self, z: Tensor) -> Tensor:
        """The forecasts ``[B, H, N]`` of z-scored inputs ``z [B, T, N, C]``, z-scored."""
        if self.cached:
            return autoregressive_forecast(self.model, z, self.horizon)
        return autoregressive_forecast(
            lambda window: self.model(window, self.edge_index, self.edge_weight), z,
            self.horizon)

    def forward(self, x: Tensor) -> Tensor:
        z = (x - self.mean) / self.std
        return self.rollout(z) * self.std + self.mean


def load_forecast_module(path: Path, horizon: int | None = None,
                         dense: bool = True) -> tuple[ForecastModule, dict[str, Any]]:
    """A :class:`ForecastModule` from a pygkd checkpoint (``model.pt``) or its run folder.

    The graph is rebuilt from the checkpoint's dataset (its files must be where they were at
    training time, or at the path recorded in the checkpoint). ``dense`` stores the operator
    dense (every export format runs it); ``horizon`` defaults to the training data's output
    steps (9). Returns the module (eval mode, CPU) and the checkpoint payload.
    """
    from pygkd.train.checkpoint import load_model
    from pygkd.train.runs import build_dataset, checkpoint_data_config

    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found (give a model.pt or a run folder)")
    model, payload = load_model(path)
    saved = payload.get("data", {})
    if saved.get("inputs"):
        raise InputError(f"{path}: the model reads extra inputs ({', '.join(saved['inputs'])}) "
                         "besides the forecast quantity; predict and export take readings of "
                         "the forecast quantity only, so they run models trained without "
                         "--inputs (evaluate and plot run this one)")
    graph = payload.get("graph")
    if graph is not None and saved.get("scaler") and saved.get("sensor_ids"):
        edge_index, edge_weight = graph["edge_index"], graph["edge_weight"]
        info = dict(saved)
    else:  # an older checkpoint: rebuild its dataset for the graph and the statistics
        dataset = build_dataset(checkpoint_data_config(payload))
        edge_index, edge_weight = dataset.edge_index, dataset.edge_weight
        info = {"scaler": {"mean": dataset.scaler.mean, "std": dataset.scaler.std},
                "sensor_ids": dataset.sensor_ids or [str(i) for i in range(dataset.num_nodes)],
                "n_out": dataset.n_out, "minutes_per_step": dataset.minutes_per_step}
    if int(edge_index.max()) >= model.num_nodes if edge_index.numel() else False:
        raise InputError(f"{path}: the graph has more nodes than the model's {model.num_nodes}")
    edges: dict[str, Any] = {}
    if isinstance(model, STGCN):
        threshold = 0.0 if dense else model.operator_dense_threshold
        model.graph_operator = GraphOperator.from_edges(
            edge_index, edge_weight, model.num_nodes, model.normalization, dtype=torch.float32,
            dense_threshold=threshold)
    elif isinstance(model, RecurrentForecaster):
        model.cache_graph(edge_index.long(), edge_weight.float(), dense=dense)
    if getattr(model, "graph_operator", None) is None:  # dcrnn: its cell takes the edge list
        edges = {"edge_index": edge_index.long(), "edge_weight": edge_weight.float()}
    module = ForecastModule(model, info["scaler"]["mean"], info["scaler"]["std"],
                            horizon or int(info.get("n_out") or 9),
                            sensor_ids=[str(s) for s in info["sensor_ids"]],
                            minutes_per_step=info.get("minutes_per_step"), **edges)
    return module.eval(), payload
