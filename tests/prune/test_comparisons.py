"""The pruning comparisons (Tables 7 and 8) end to end on a tiny network: they run from
Python, return typed results and write what the command prints."""

from __future__ import annotations

import json

from pygkd.experiments.prune_tables import run_table7, run_table8
from pygkd.experiments.results import Comparison
from tests.conftest import train_stgcn

FAST = ["train.epochs=1", "train.batch_size=8", "train.latency_batch=8",
        "train.latency_repeats=1", "prune.finetune_epochs=1", "prune.pruning_minibatch=2",
        "prune.step_share=0.3"]


def test_tables_7_and_8_return_their_rows(tmp_path):
    teacher = train_stgcn(tmp_path, "t", "1,8,16;16,8,32")
    base = train_stgcn(tmp_path, "b", "1,4,8;8,4,8")
    seven = run_table7(teacher, tmp_path / "t7", seeds=[0], overrides=FAST)
    assert isinstance(seven, Comparison)
    labels = [r[0] for r in seven.rows]
    assert labels[0] == "Persistence (last observed value)"
    assert [label.split(" (")[0] for label in labels[1:]] == [
        "Teacher", "Student W/O pruning algorithm", "Student W pruning algorithm"]
    student, pruned = seven.rows[2][2], seven.rows[3][2]
    # Algorithm 1 prunes the teacher to (at least) the student's share of its parameters
    assert pruned["parameters"] <= student["parameters"]
    assert seven.markdown.read_text() == seven.text
    assert json.loads(seven.json.read_text())["pruned"][0]["pruned_share"] > 0.9
    eight = run_table8(base, teacher, tmp_path / "t8", targets=[0.5], seeds=[0],
                       overrides=FAST)
    labels = [r[0].split(" (")[0] for r in eight.rows]
    assert labels == ["Persistence", "Base model", "Pruned W/O KD 50 %", "Pruned W L_STCD 50 %"]
    runs = json.loads(eight.json.read_text())["runs"]
    assert sorted(runs) == ["kd-50", "taylor-50"]
    assert all(r["pruned_share"] >= 0.5 for key in runs for r in runs[key])
