"""Combined losses (``--loss skd+tcd``): the response term once, each part's feature terms."""

from __future__ import annotations

import json

import pytest
import torch

from pygkd.distill import functional as Fd
from pygkd.distill.registry import check_loss
from pygkd.errors import InputError
from pygkd.train.config import DistillConfig


def _features(seed: int = 0) -> dict[str, list[tuple[torch.Tensor, torch.Tensor]]]:
    g = torch.Generator().manual_seed(seed)
    pair = (torch.randn(3, 5, 4, 6, generator=g),
            torch.randn(3, 5, 4, 8, generator=g))
    return {"temporal": [pair], "spatial": [pair], "hidden": [pair]}


def _outputs(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g),
            torch.randn(3, 4, generator=g))


def test_skd_plus_tcd_is_ord_plus_each_weighted_feature_term():
    config = DistillConfig(loss="skd+tcd", alpha=0.3, alpha1=0.4, alpha3=0.7)
    criterion = check_loss(config.loss).build(config)
    y_s, y_t, target = _outputs()
    features = _features()
    loss = criterion(y_s, y_t, target, features)
    (h_s, h_t), = features["hidden"]
    ord_ = Fd.overseen_response(y_s, y_t, target, 0.4)
    graph_matching = Fd.structural_kd(h_s, h_t, y_s, y_s, alpha=1.0)  # task term 0
    tcd = Fd.temporal_correlation(*features["temporal"][0])
    assert float(loss) == pytest.approx(float(ord_ + 0.3 * graph_matching + 0.7 * tcd),
                                        rel=1e-6)
    assert set(criterion.terms) == {"ord", "skd", "tcd"}  # SKD's own task term is left out
    assert float(criterion.terms["skd"]) == pytest.approx(0.3 * float(graph_matching), rel=1e-5)
    assert "scd" not in criterion.parts  # each part sees only the features it reads


def test_tcd_plus_scd_equals_stcd_with_half_alpha2_and_double_alpha3():
    y_s, y_t, target = _outputs()
    features = _features()
    both = check_loss("tcd+scd").build(DistillConfig(loss="tcd+scd", alpha1=0.3, alpha3=0.2))
    stcd = check_loss("stcd").build(DistillConfig(loss="stcd", alpha1=0.3, alpha2=0.5,
                                                  alpha3=0.4))
    assert float(both(y_s, y_t, target, features)) == pytest.approx(
        float(stcd(y_s, y_t, target, features)), rel=1e-6)


def test_a_response_loss_with_a_feature_loss_keeps_its_response():
    """``rd-l2+skd``: L_RD(L2) (Eq. 3) is the response; SKD adds its weighted matching."""
    config = DistillConfig(loss="rd-l2+skd", beta=0.25, alpha=0.5)
    criterion = check_loss(config.loss).build(config)
    y_s, y_t, target = _outputs()
    features = _features()
    (h_s, h_t), = features["hidden"]
    expected = Fd.response_l2(y_s, y_t, target, 0.25) \
        + 0.5 * Fd.structural_kd(h_s, h_t, y_s, y_s, alpha=1.0)
    assert float(criterion(y_s, y_t, target, features)) == pytest.approx(float(expected),
                                                                         rel=1e-6)
    assert set(criterion.terms) == {"rd", "skd"}


def test_skd_alone_splits_its_task_and_matching_terms():
    config = DistillConfig(loss="skd", alpha=0.3)
    criterion = check_loss("skd").build(config)
    y_s, y_t, target = _outputs()
    features = _features()
    loss = criterion(y_s, y_t, target, features)
    assert float(criterion.terms["task"]) == pytest.approx(
        0.7 * float(((y_s - target) ** 2).mean()), rel=1e-6)
    assert float(criterion.terms["task"] + criterion.terms["skd"]) == pytest.approx(
        float(loss), rel=1e-6)


def test_a_combination_reads_the_union_of_its_parts():
    spec = check_loss("skd+stcd")
    assert spec.label == "Student L_SKD + L_STCD"
    assert spec.hyperparameters == ("alpha", "alpha1", "alpha2", "alpha3", "normalize_features")
    assert spec.features == ("hidden", "temporal", "spatial")


@pytest.mark.parametrize("name, fragment", [
    ("skd+skd", "appears twice"), ("none+tcd", "'none' adds no term"),
    ("rd-l2+rd-kl", "only a response term"), ("rd-l2+tcd", "only a response term"),
    ("skd+", r"joined by '\+'"), ("skd+nope", "unknown 'nope'")])
def test_combinations_that_cannot_work_are_one_line_errors(name, fragment):
    with pytest.raises(InputError, match=fragment):
        check_loss(name)


def test_pygkd_distill_runs_a_combined_loss(tmp_path):
    from click.testing import CliRunner

    from pygkd.cli import main
    from tests.conftest import train_stgcn

    teacher = train_stgcn(tmp_path, "t", "1,4,8;8,4,8")
    result = CliRunner().invoke(main, [
        "distill", "--teacher", str(teacher), "--loss", "SKD+tcd", "--epochs", "1", "--quiet",
        "--set", "distill.alpha=0.4", "--out", str(tmp_path / "s"),
        "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert metrics["distill"]["loss"] == "skd+tcd" and metrics["distill"]["alpha"] == 0.4
    shares = {k for k in metrics["history"][0] if k.startswith("grad_share_")}
    assert shares == {"grad_share_ord", "grad_share_skd", "grad_share_tcd"}
    assert 0 < metrics["teacher_share"] < 1  # an L_ORD-based combination
