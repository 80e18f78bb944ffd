"""``pygkd tune``: an Optuna study on the validation split, resumable and shared by processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

pytest.importorskip("optuna")

from pygkd.errors import InputError  # noqa: E402
from pygkd.experiments.tuning import run_tuning, tuned_names  # noqa: E402
from tests.conftest import train_stgcn  # noqa: E402

FAST = ["train.latency_batch=8", "train.latency_repeats=1"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return train_stgcn(tmp_path_factory.mktemp("tune"), "t", "1,4,8;8,4,8")


def test_tune_scores_trials_on_validation_only_and_writes_the_best_recipe(teacher, tmp_path):
    out = tmp_path / "tune"
    summary = run_tuning(teacher, "stcd", out, trials=3, overrides=["train.epochs=1", *FAST])
    done = [t for t in summary.trials if t["state"] == "COMPLETE"]
    assert len(summary.trials) == 3 and summary.best["val_mae"] == min(t["val_mae"] for t in done)
    for row in done:  # each trial's score is its own run's best validation MAE
        metrics = json.loads((out / f"trial{row['trial']:03d}" / "metrics.json").read_text())
        assert row["val_mae"] == pytest.approx(metrics["best_val_mae"], rel=1e-9)
        assert {"alpha1", "alpha2", "alpha3"} <= set(row)
        assert metrics["distill"]["alpha3"] == pytest.approx(row["alpha3"], rel=1e-12)
    best = yaml.safe_load(summary.recipe.read_text())
    assert summary.recipe == out / "best.yaml"
    assert best["distill"]["loss"] == "stcd"
    for name in ("alpha1", "alpha2", "alpha3"):
        assert best["distill"][name] == pytest.approx(summary.best[name], rel=1e-3)
    saved = json.loads((out / "tuning.json").read_text())
    assert "test" not in json.dumps({"best": saved["best"], "trials": saved["trials"]})
    assert (out / "study.db").is_file()
    pytest.importorskip("matplotlib")
    assert (out / "tuning.png").stat().st_size > 1000 and (out / "tuning.svg").is_file()


def test_a_rerun_adds_trials_to_the_same_study(teacher, tmp_path):
    out = tmp_path / "tune"
    first = run_tuning(teacher, "ord", out, trials=2, overrides=["train.epochs=1", *FAST])
    again = run_tuning(teacher, "ord", out, trials=1, overrides=["train.epochs=1", *FAST])
    assert [t["trial"] for t in first.trials] == [0, 1]
    assert [t["trial"] for t in again.trials] == [0, 1, 2]
    assert again.trials[:2] == first.trials  # the earlier trials are kept as they were
    assert sorted(p.name for p in out.glob("trial*")) == ["trial000", "trial001", "trial002"]


def test_several_losses_make_the_loss_a_searched_choice(teacher, tmp_path):
    summary = run_tuning(teacher, ["ord", "skd+tcd"], tmp_path / "tune", trials=4,
                         overrides=["train.epochs=1", *FAST], tune_lr=True)
    for row in summary.trials:
        assert row["loss"] in ("ord", "skd+tcd")
        assert set(tuned_names(row["loss"])) | {"loss", "lr"} <= set(row)
        assert 1e-4 <= row["lr"] <= 1e-2
    best = yaml.safe_load(summary.recipe.read_text())
    assert best["distill"]["loss"] == summary.best["loss"] == summary.loss
    assert best["train"]["lr"] == pytest.approx(summary.best["lr"], rel=1e-2)


def test_tune_mixup_searches_function_matching_for_teacher_losses(teacher, tmp_path):
    summary = run_tuning(teacher, ["none", "ord"], tmp_path / "tune", trials=4,
                         overrides=["train.epochs=1", *FAST], tune_mixup=True, tune_lr=True)
    assert {row["loss"] for row in summary.trials} == {"none", "ord"}  # the sampler is seeded
    for row in summary.trials:
        if row["same_as"] is not None:  # an earlier trial's settings: nothing trained
            continue
        run_dir = tmp_path / "tune" / f"trial{row['trial']:03d}"
        metrics = json.loads((run_dir / "metrics.json").read_text())
        if row["loss"] == "ord":  # searched, and the trial trained with it
            assert 0.0 <= row["mixup"] <= 0.8
            assert metrics["distill"]["mixup"] == pytest.approx(row["mixup"])
        else:  # W/O KD has no teacher to match
            assert "mixup" not in row and metrics["distill"]["mixup"] == 0.0
    best = yaml.safe_load(summary.recipe.read_text())
    if summary.best["loss"] == "ord":
        assert best["distill"]["mixup"] == pytest.approx(summary.best["mixup"], rel=1e-3)


def test_the_pruner_stops_a_trial_from_its_reported_curve(teacher, tmp_path):
    """A trial reports every epoch's validation MAE; when the pruner says stop, training ends
    after that epoch (its ``last.pt`` written) and the trial is marked pruned."""
    import optuna

    from pygkd.experiments.distill_tables import loss_recipe
    from pygkd.experiments.distillation import run_distill
    from pygkd.experiments.tuning import TrialReporter
    from pygkd.train.config import RunConfig, apply_overrides

    class Trial:
        reported: list[tuple[int, float]] = []

        def report(self, value, step):
            self.reported.append((step, value))

        def should_prune(self):
            return len(self.reported) == 2

    trial = Trial()
    raw = apply_overrides(loss_recipe("ord"), ["train.epochs=4", *FAST])
    with pytest.raises(optuna.TrialPruned, match="epoch 2"):
        run_distill(RunConfig.from_dict(raw), teacher, tmp_path / "run", progress=False,
                    callbacks=[TrialReporter(trial)])
    import torch

    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["state"]
    assert state["epoch"] == 2
    assert trial.reported == [(h["epoch"], h["val_mae"]) for h in state["history"]]


def test_two_processes_add_trials_to_one_study(teacher, tmp_path):
    """Two ``pygkd tune`` processes started together on one sqlite storage: one study of
    2 x 2 trials, no trial proposed twice."""
    import optuna

    db = f"sqlite:///{tmp_path / 'shared.db'}"
    args = ["-m", "pygkd", "tune", "--teacher", str(teacher), "--loss", "ord", "--trials", "2",
            "--storage", db, "--study-name", "shared", "--set", "train.epochs=1",
            "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, *args, "--out", str(tmp_path / f"p{k}")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for k in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    study = optuna.load_study(study_name="shared", storage=db)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 4
    assert len({t.params["alpha1"] for t in done}) == 4
    assert all("4 trial(s) in the study" in o or "3 trial(s)" in o or "2 trial(s)" in o
               for o in outputs)
    folders = sorted(p.name for k in range(2) for p in (tmp_path / f"p{k}" / "ord").glob("trial*"))
    assert folders == [f"trial{n:03d}" for n in range(4)]


def test_bad_tuning_requests_are_one_line_errors(teacher, tmp_path):
    with pytest.raises(InputError, match="--storage nosuch://x: not a usable Optuna storage"):
        run_tuning(teacher, "ord", tmp_path / "a", trials=1, storage="nosuch://x")
    with pytest.raises(InputError, match="nothing to tune for 'none'"):
        run_tuning(teacher, "none", tmp_path / "b", trials=1)
    with pytest.raises(InputError, match="unknown 'nope'"):
        run_tuning(teacher, "nope", tmp_path / "c", trials=1)
    with pytest.raises(InputError, match="--teacher .*no such checkpoint"):
        run_tuning(tmp_path / "missing.pt", "ord", tmp_path / "d", trials=1)
    for sizes, expected in (([16], "at least two sizes"), ([8, 0], "positive whole numbers"),
                            ([8, 2.5], "positive whole numbers"),
                            ([8, True], "positive whole numbers")):
        with pytest.raises(InputError, match=f"--batch-sizes: .*{expected}"):
            run_tuning(teacher, "none", tmp_path / "e", trials=1, batch_sizes=sizes)


def test_the_controls_batch_size_is_searched_and_written_to_its_recipe(teacher, tmp_path):
    """``--loss none --batch-sizes``: each trial trains with the batch it drew (its run's
    config says so), and the best one goes to ``best.yaml``'s ``train``."""
    summary = run_tuning(teacher, "none", tmp_path / "tune", trials=6,
                         overrides=["train.epochs=1", *FAST], batch_sizes=[4, 8, 8, 32])
    trained = {}
    for row in summary.trials:
        folder = tmp_path / "tune" / f"trial{row['trial']:03d}"
        if row["same_as"] is None:
            config = yaml.safe_load((folder / "config.yaml").read_text())
            assert config["train"]["batch_size"] == row["batch_size"] in (4, 8, 32)
            assert row["batch_size"] not in trained  # a size is trained once
            trained[row["batch_size"]] = row["val_mae"]
        else:  # drawn again: the finished twin's result, nothing trained
            assert not folder.exists()
            assert row["val_mae"] == trained[row["batch_size"]]
    assert len(trained) >= 2 and len(summary.trials) == 6  # 6 draws from 3 sizes
    best = yaml.safe_load(summary.recipe.read_text())
    assert best["train"]["batch_size"] == summary.best["batch_size"]
    assert "batch_size" not in best.get("distill", {})


def test_a_finished_or_pruned_trial_frees_its_teacher_cache(teacher, tmp_path, monkeypatch):
    """A study runs many trials in one process: each trial's teacher cache (GBs on real data)
    must be gone when the next trial starts, whether the last one finished or was pruned
    (the models and the cache sit in reference cycles that only a full collection frees: on
    Los-loop, three trials' caches of 3.65 GiB each were still held when the fourth began)."""
    import weakref

    import pygkd.distill.teacher as teacher_module
    from pygkd.experiments import tuning

    caches: list[weakref.ref] = []
    alive_at_start: list[int] = []
    original = teacher_module.TeacherCache.__init__

    def recording_init(self, *args, **kwargs):  # no gc.collect() here: the study must free
        alive_at_start.append(sum(ref() is not None for ref in caches))
        original(self, *args, **kwargs)
        caches.extend(weakref.ref(t) for t in self.store.values())  # the tensors themselves

    monkeypatch.setattr(teacher_module.TeacherCache, "__init__", recording_init)
    monkeypatch.setattr(tuning, "PRUNER_STARTUP_TRIALS", 0)
    monkeypatch.setattr(tuning, "PRUNER_WARMUP_EPOCHS", 0)
    monkeypatch.setattr(tuning.TrialReporter, "after_epoch",  # odd trials are pruned
                        lambda self, epoch, val: _prune_if(self.trial.number % 2 == 1, epoch))
    summary = run_tuning(teacher, "ord", tmp_path / "t", trials=4,
                         overrides=["train.epochs=2", *FAST])
    assert {t["state"] for t in summary.trials} == {"COMPLETE", "PRUNED"}
    assert len(alive_at_start) == 4 and alive_at_start == [0, 0, 0, 0]


def _prune_if(prune: bool, epoch: int) -> None:
    import optuna

    if prune:
        raise optuna.TrialPruned(f"pruned at epoch {epoch} (test)")


def test_several_seeds_score_a_trial_by_the_mean_of_their_runs(teacher, tmp_path):
    """``--seeds 0,1``: every trial trains both seeds (``trial<k>/seed<s>``), is scored by the
    mean of their best validation MAEs, reports the two curves one after the other, and the
    study is not the one-seed study of the same teacher and loss."""
    import optuna

    out = tmp_path / "tune"
    summary = run_tuning(teacher, "ord", out, trials=2, seeds=[0, 1],
                         overrides=["train.epochs=2", *FAST])
    names = [s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{out / 'study.db'}")]
    assert len(names) == 1 and names[0].endswith("-seeds0,1")
    study = optuna.load_study(study_name=names[0], storage=f"sqlite:///{out / 'study.db'}")
    for row, frozen in zip(summary.trials, study.trials, strict=True):
        runs = [json.loads((out / f"trial{row['trial']:03d}" / f"seed{s}" / "metrics.json")
                           .read_text()) for s in (0, 1)]
        values = [m["best_val_mae"] for m in runs]
        assert values[0] != values[1]  # two seeds, two students
        assert row["seed_val_mae"] == pytest.approx(values, rel=1e-12)
        assert row["val_mae"] == pytest.approx((values[0] + values[1]) / 2, rel=1e-9)
        assert row["best_epoch"] == [m["best_epoch"] for m in runs]
        curves = [h["val_mae"] for m in runs for h in m["history"]]
        assert [frozen.intermediate_values[step] for step in (1, 2, 3, 4)] == \
            pytest.approx(curves, rel=1e-9)  # seed 1's epoch e is step 2 + e
        for s in (0, 1):
            config = yaml.safe_load((out / f"trial{row['trial']:03d}" / f"seed{s}" /
                                     "config.yaml").read_text())
            assert config["seed"] == s
    assert not (out / "trial000" / "metrics.json").exists()


def test_bad_seed_lists_are_one_line_errors(teacher, tmp_path):
    for seeds, expected in (([0, 0], "seed 0 is given twice"), ([], "give at least one seed"),
                            ([1, -1], "expected non-negative whole numbers"),
                            ([1, 2.0], "expected non-negative whole numbers")):
        with pytest.raises(InputError, match=f"--seeds: {expected}"):
            run_tuning(teacher, "ord", tmp_path / "a", trials=1, seeds=seeds)
