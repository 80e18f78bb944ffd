"""``Distiller``: distillation as an ``nn.Module`` in a plain PyTorch loop, for a model the
user wrote (a GCNConv + GRU forecaster, not in the zoo) and for the zoo's models."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.nn import GCNConv

from pygkd.distill import Distiller
from pygkd.testing import toy_forecast_dataset


class Spatial(nn.Module):
    def __init__(self, c_in: int, hidden: int) -> None:
        super().__init__()
        self.conv = GCNConv(c_in, hidden)

    def forward(self, x, edge_index, edge_weight):  # [B, T, N, C] -> [B, T, N, H]
        return torch.relu(self.conv(x, edge_index, edge_weight))


class Temporal(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(hidden, hidden, batch_first=True)

    def forward(self, h):  # [B, T, N, H] -> [B, T, N, H]
        b, t, n, c = h.shape
        out, _ = self.gru(h.permute(0, 2, 1, 3).reshape(b * n, t, c))
        return out.reshape(b, n, t, c).permute(0, 2, 1, 3)


class GCNGRU(nn.Module):
    """A forecaster written here: GCN per step, a GRU per sensor, a linear readout."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.spatial, self.temporal = Spatial(1, hidden), Temporal(hidden)
        self.readout = nn.Linear(hidden, 1)

    def forward(self, x, edge_index, edge_weight=None):  # -> [B, 1, N, 1]
        h = self.temporal(self.spatial(x, edge_index, edge_weight))
        return self.readout(h[:, -1:])


def test_a_model_of_your_own_is_distilled_in_a_plain_loop():
    torch.manual_seed(0)
    data = toy_forecast_dataset()
    ei, ew = data.edge_index, data.edge_weight
    teacher, student = GCNGRU(16), GCNGRU(4)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    # --- the user's loop (8 lines) ---
    distiller = Distiller(student, teacher, loss="stcd", alpha3=0.5,
                          temporal_pairs=[("temporal", "temporal")],
                          spatial_pairs=[("spatial", "spatial")])
    optimizer = torch.optim.Adam(distiller.parameters(), lr=1e-2)
    distiller.train()
    for x, y in data.batches("train", 16, shuffle=True):
        loss, terms = distiller(x, ei, ew, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # --- what it guarantees ---
    assert not teacher.training and distiller.training
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert {id(p) for p in distiller.parameters()} == {id(p) for p in student.parameters()}
    assert all(k.startswith("student.") for k in distiller.state_dict())
    assert {"ord", "tcd", "scd"} <= set(terms)
    c = distiller.config  # Eq. 11: L_ORD + alpha3 (alpha2 L_SCD + (1 - alpha2) L_TCD)
    expected = terms["ord"] + c.alpha3 * (c.alpha2 * terms["scd"] + (1 - c.alpha2) * terms["tcd"])
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_the_feature_terms_reach_the_students_gradients():
    torch.manual_seed(0)
    data = toy_forecast_dataset()
    x, y = data.batch("train", torch.arange(8))
    grads = {}
    for alpha3 in (0.0, 1.0):
        torch.manual_seed(1)
        teacher, student = GCNGRU(16), GCNGRU(4)
        distiller = Distiller(student, teacher, loss="stcd", alpha3=alpha3,
                              temporal_pairs=[("temporal", "temporal")],
                              spatial_pairs=[("spatial", "spatial")])
        loss, _ = distiller(x, data.edge_index, data.edge_weight, y)
        loss.backward()
        grads[alpha3] = student.spatial.conv.lin.weight.grad.clone()
    assert not torch.allclose(grads[0.0], grads[1.0])


def test_zoo_models_pair_layers_by_depth_and_teachers_move_with_to():
    from pygkd.nn import STGCN

    data = toy_forecast_dataset()
    teacher = STGCN(6, [[1, 4, 8], [8, 4, 8]])
    student = STGCN(6, [[1, 2, 4], [4, 2, 4]])
    distiller = Distiller(student, [teacher, STGCN(6, [[1, 4, 8], [8, 4, 8]])],
                          loss="stcd", teacher_weights=[3, 1]).double()
    assert next(teacher.parameters()).dtype == torch.float64
    x, y = data.to(dtype=torch.float64).batch("train", torch.arange(4))
    loss, terms = distiller(x, data.edge_index, data.edge_weight.double(), y)
    assert loss.dtype == torch.float64 and torch.isfinite(loss) and "tcd" in terms
    distiller.train()
    assert all(not t.training for t in distiller.teachers)
    with pytest.raises(ValueError, match="Name the layer pairs"):
        Distiller(GCNGRU(4), GCNGRU(8), loss="tcd")(x.float(), data.edge_index,
                                                    data.edge_weight, y.float())
