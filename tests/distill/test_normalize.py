"""``distill.normalize_features``: L_TCD / L_SCD on scale-free features (bounded or narrow
student features, e.g. a GRU's hidden state, compared by their relations)."""

from __future__ import annotations

import pytest
import torch

from pygkd.distill import functional as Fd
from pygkd.distill.objective import DistillObjective
from pygkd.distill.registry import check_loss
from pygkd.nn import PRESETS, STGCN
from pygkd.testing import toy_forecast_dataset
from pygkd.train.config import DistillConfig


def _criterion(normalize: bool):
    config = DistillConfig(loss="stcd", alpha1=0.3, alpha2=0.5, alpha3=1.0,
                           normalize_features=normalize)
    return check_loss("stcd").build(config)


def test_normalized_terms_ignore_the_scale_of_either_model_and_match_by_hand():
    g = torch.Generator().manual_seed(0)
    f_s, f_t = torch.randn(2, 4, 5, 3, generator=g), torch.randn(2, 4, 5, 8, generator=g)
    y = torch.randn(2, 5, generator=g)

    def terms(criterion, s_scale, t_scale):
        feats = {"temporal": [(s_scale * f_s.transpose(1, 2), t_scale * f_t.transpose(1, 2))],
                 "spatial": [(s_scale * f_s, t_scale * f_t)]}
        criterion(y, y, y, feats)
        return {k: float(v) for k, v in criterion.parts.items() if k in ("tcd", "scd")}

    normed = _criterion(True)
    assert terms(normed, 7.0, 0.1) == pytest.approx(terms(normed, 1.0, 1.0), rel=1e-5)
    raw = _criterion(False)
    assert terms(raw, 7.0, 0.1)["scd"] != pytest.approx(terms(raw, 1.0, 1.0)["scd"], rel=0.1)
    # by hand: the raw loss on features divided by their per-window standard deviation
    std_s = f_s.flatten(1).std(dim=1).view(-1, 1, 1, 1)
    std_t = f_t.flatten(1).std(dim=1).view(-1, 1, 1, 1)
    expected = float(Fd.spatial_correlation(f_s / std_s, f_t / std_t))
    assert terms(normed, 1.0, 1.0)["scd"] == pytest.approx(expected, rel=1e-5)


def test_cached_teacher_distances_are_scale_free_too():
    """The teacher cache holds distances of scale-free teacher features: the loss equals the
    one computed from the teacher's features on the fly."""
    data = toy_forecast_dataset()
    torch.manual_seed(0)
    teacher = STGCN(data.num_nodes, [[1, 8, 16], [16, 8, 32]])
    student = STGCN(data.num_nodes, PRESETS["student"])
    config = DistillConfig(loss="stcd", normalize_features=True, scd_nodes=0)
    x, y = data.batch("train", torch.arange(6))
    index = torch.arange(6)
    cached = DistillObjective(teacher, config, data.edge_index, data.edge_weight,
                              num_windows=data.num_samples("train"), cache_gb=1.0)
    on_the_fly = DistillObjective(teacher, config, data.edge_index, data.edge_weight)
    with_cache, logs_cache = cached(student, x, y, index)
    assert cached.terms[0].spatial_targets == "distances"
    without, logs = on_the_fly(student, x, y, index)
    assert float(with_cache.detach()) == pytest.approx(float(without.detach()), rel=1e-5)
    assert logs_cache["scd"] == pytest.approx(logs["scd"], rel=1e-5)
