"""Distil a PyG Temporal recurrent model into a smaller one with L_TCD + L_SCD, through hooks
alone (the models' code is not touched).

The teacher and the student are stock ``A3TGCN2`` forecasters (attention over per-step
``TGCN2`` cells) of different widths. ``FeatureCapture(..., accumulate=True)`` hooks the
``_base_tgcn`` cell, which runs once per input step and returns ``[B, N, C]``; stacked, the
hidden states read ``[B, T, N, C]`` and feed the temporal (Eq. 7-8) and spatial (Eq. 9-10)
correlation losses, which do not need equal widths.

Run: python docs/examples/distill_pyg_temporal.py
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pygkd.compat import import_pyg_temporal
from pygkd.distill import FeatureCapture, freeze, spatial_correlation, temporal_correlation
from pygkd.testing import toy_forecast_dataset

A3TGCN2 = import_pyg_temporal().nn.recurrent.A3TGCN2


class Forecaster(nn.Module):
    """A3TGCN2 + linear head: ``x [B, N, 1, T]`` -> next step ``[B, N]``."""

    def __init__(self, hidden: int, periods: int, batch_size: int) -> None:
        super().__init__()
        self.recurrent = A3TGCN2(1, hidden, periods=periods, batch_size=batch_size)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        return self.head(torch.relu(self.recurrent(x, edge_index, edge_weight)))[..., 0]


def _fit(model: nn.Module, batches, steps: int, loss_fn) -> None:  # type: ignore[no-untyped-def]
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(steps):
        x, y = batches[step % len(batches)]
        opt.zero_grad()
        loss_fn(model, x, y).backward()
        opt.step()


def main(teacher_hidden: int = 32, student_hidden: int = 4, steps: int = 60,
         alpha: float = 0.5, seed: int = 0) -> dict[str, list[float]]:
    """Train a teacher, then a student with task + TCD + SCD; return the feature losses seen
    by the student at its first and last step."""
    torch.manual_seed(seed)
    data = toy_forecast_dataset(num_nodes=6)
    ei, ew = data.edge_index, data.edge_weight
    batches = []
    for x, y in data.batches("train", 8):
        if x.size(0) == 8:  # A3TGCN2 is built for a fixed batch size
            batches.append((x.permute(0, 2, 3, 1), y[:, 0]))  # [B, N, 1, T], [B, N]
    teacher = Forecaster(teacher_hidden, 12, 8)
    student = Forecaster(student_hidden, 12, 8)

    def task(model, x, y):  # type: ignore[no-untyped-def]
        return torch.mean((model(x, ei, ew) - y) ** 2)

    _fit(teacher, batches, steps, task)
    freeze(teacher)
    layer = "recurrent._base_tgcn"  # the same name in both models; any named layer works
    seen: dict[str, list[float]] = {"tcd": [], "scd": []}

    def distill(model, x, y):  # type: ignore[no-untyped-def]
        with torch.no_grad(), FeatureCapture(teacher, [layer], detach=True,
                                             accumulate=True) as t_cap:
            teacher(x, ei, ew)
        with FeatureCapture(model, [layer], accumulate=True) as s_cap:
            pred = model(x, ei, ew)
        h_s, h_t = s_cap.features[layer], t_cap.features[layer]  # [B, 12, N, C_s / C_t]
        tcd, scd = temporal_correlation(h_s, h_t), spatial_correlation(h_s, h_t)
        seen["tcd"].append(tcd.item())
        seen["scd"].append(scd.item())
        return torch.mean((pred - y) ** 2) + alpha * (tcd + scd)

    _fit(student, batches, steps, distill)
    return {k: [v[0], v[-1]] for k, v in seen.items()}


if __name__ == "__main__":
    result = main()
    print(f"student L_TCD {result['tcd'][0]:.3e} -> {result['tcd'][1]:.3e}, "
          f"L_SCD {result['scd'][0]:.3e} -> {result['scd'][1]:.3e}")
