"""Paired statistics over seeds, by hand, and in the distillation comparison."""

from __future__ import annotations

import json
import logging
import math

import pytest

from pygkd.experiments.distill_tables import run_distill_comparison
from pygkd.experiments.statistics import paired_difference, paired_table
from tests.conftest import train_stgcn


def test_paired_difference_by_hand():
    # d = [-0.1, -0.2, 0.0]: mean -0.1, sd 0.1, se 0.1 / sqrt(3) = 0.0577, t = -1.732 (2 df):
    # p = 0.2254; t_0.975(2) = 4.303: half-width 0.2484; one tie, two wins
    d = paired_difference([3.0, 3.2, 3.1], [2.9, 3.0, 3.1])
    assert d.mean == pytest.approx(-0.1)
    assert (d.low, d.high) == pytest.approx((-0.3484, 0.1484), abs=1e-4)
    assert d.p == pytest.approx(0.2254, abs=1e-4)
    assert (d.wins, d.n, d.significant) == (2, 3, False)
    # five seeds, all better by about 0.1: significant
    d = paired_difference([3.0] * 5, [2.9, 2.88, 2.91, 2.9, 2.89])
    assert d.wins == 5 and d.significant and d.high < 0


def test_degenerate_cases():
    one = paired_difference([3.0], [2.5])
    assert one.mean == -0.5 and one.wins == 1 and math.isnan(one.p) and math.isnan(one.low)
    same = paired_difference([1.0, 2.0], [1.0, 2.0])
    assert (same.mean, same.p, same.wins) == (0.0, 1.0, 0)
    shifted = paired_difference([1.0, 2.0], [0.5, 1.5])  # every seed exactly 0.5 better
    assert (shifted.p, shifted.low, shifted.high) == (0.0, -0.5, -0.5)
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="control row"):
        paired_table([("a", [{"15min": {"MAE": 1.0}}])], "W/O KD")


def test_the_distillation_comparison_prints_paired_differences(tmp_path):
    teacher = train_stgcn(tmp_path, "t", "1,8,16;16,8,32")
    result = run_distill_comparison(
        teacher, tmp_path / "cmp", losses=["none", "stcd"], seeds=[0, 1],
        overrides=["train.epochs=1", "train.latency_batch=8", "train.latency_repeats=1"])
    assert "Paired difference to W/O KD over seeds [0, 1]" in result.text
    paired = json.loads(result.json.read_text())["paired"]["stgcn"]
    runs = json.loads(result.json.read_text())["runs"]
    for horizon, d in paired["Student L_STCD"].items():
        diffs = [s["test"][horizon]["MAE"] - c["test"][horizon]["MAE"]
                 for c, s in zip(runs["none"], runs["stcd"], strict=True)]
        assert d["mean"] == pytest.approx(sum(diffs) / 2)
        assert d["wins"] == sum(x < 0 for x in diffs) and d["seeds"] == 2
    line = next(x for x in result.text.splitlines() if x.startswith("| Student L_STCD |")
                and "/2 |" in x)
    assert line.count("/2") == len(paired["Student L_STCD"])


def test_every_loss_trains_like_its_control_unless_asked(tmp_path, caplog):
    """The SKD recipe trains with batch 16, W/O KD with 50: in a comparison both use the
    control's settings, and with own_train_settings the table names the difference."""
    import yaml

    from pygkd.train.recipes import recipe_root

    teacher = train_stgcn(tmp_path, "t", "1,8,16;16,8,32")
    fast = ["train.epochs=1", "train.latency_batch=8", "train.latency_repeats=1"]

    def train_settings(folder, loss):
        return yaml.safe_load((folder / loss / "seed0" / "config.yaml").read_text())["train"]

    with caplog.at_level(logging.INFO, logger="pygkd.experiments.distill_tables"):
        same = run_distill_comparison(teacher, tmp_path / "same", losses=["none", "skd"],
                                      seeds=[0], overrides=fast)
    assert "every row trains with the 'none' recipe's settings (batch_size 50" in caplog.text
    assert train_settings(tmp_path / "same", "skd") == train_settings(tmp_path / "same", "none")
    assert train_settings(tmp_path / "same", "skd")["batch_size"] == 50
    assert "Every row trains with the same settings" in same.text
    own = run_distill_comparison(teacher, tmp_path / "own", losses=["none", "skd"], seeds=[0],
                                 overrides=fast, own_train_settings=True)
    assert train_settings(tmp_path / "own", "skd")["batch_size"] == 16
    assert ("Settings that differ between rows: train.batch_size (Student W/O KD 50, "
            "Student L_SKD 16).") in own.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pygkd.experiments.distill_tables"):
        run_distill_comparison(teacher, tmp_path / "alone", losses=["skd"], seeds=[0],
                               overrides=fast)
    # without a none row, SKD still trains with the W/O KD recipe's batch of 50
    assert train_settings(tmp_path / "alone", "skd")["batch_size"] == 50
    assert "the 'none' recipe's settings (batch_size 50" in caplog.text
    # a recipe folder without none.yaml: the first loss's settings, and the log says so
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "skd.yaml").write_text((recipe_root() / "distill" / "skd.yaml").read_text())
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pygkd.experiments.distill_tables"):
        run_distill_comparison(teacher, tmp_path / "own-folder", losses=["skd"], seeds=[0],
                               overrides=fast, recipe_dir=recipes)
    assert train_settings(tmp_path / "own-folder", "skd")["batch_size"] == 16
    assert "the 'skd' recipe's settings (batch_size 16" in caplog.text
    assert "has no none.yaml" in caplog.text
