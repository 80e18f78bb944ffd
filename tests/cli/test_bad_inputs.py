"""Bad input, class by class: a one-line ``Error:`` (exit 2, no traceback) naming what was
expected and what was given, or a ``Warning:`` line where the run can go on."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from pygkd.cli import main
from tests.conftest import TINY_NETWORK, one_error

TINY = [*TINY_NETWORK, "--quiet"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def warnings_of(result):
    return [line for line in result.output.splitlines() if line.startswith("Warning: ")]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A tiny trained teacher (6 sensors, 1 epoch)."""
    out = tmp_path_factory.mktemp("teacher")
    result = run("train", "--preset", "student", "--epochs", "1", "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    return out / "model.pt"


# ------------------------------------------------------------------ configuration values


@pytest.mark.parametrize("setting, fragments", [
    ("seed=abc", ["seed: expected a whole number", "'abc'"]),
    ("train.epochs=1.5", ["train.epochs: expected a whole number", "1.5"]),
    ("train.epochs=true", ["train.epochs: expected a whole number", "True"]),
    ("train.eval_batch_size=0", ["train.eval_batch_size: expected a value >= 1", "(got 0)"]),
    ("train.latency_repeats=0", ["train.latency_repeats: expected a value >= 1"]),
    ("train.latency_batch=-3", ["train.latency_batch: expected a value >= 1"]),
    ("model.dropout=5", ["model.dropout: expected a value < 1", "(got 5)"]),
    ("model.kernel_size=0", ["model.kernel_size: expected a value >= 1"]),
    ("train.lr=.inf", ["train.lr: expected a finite number"]),
    ("train.compile=maybe", ["train.compile: expected true or false", "'maybe'"]),
    ("train.optimizer=sgd", ["train.optimizer: expected 'adam' or 'rmsprop'", "'sgd'"]),
    ("distill.alpha1=2", ["distill.alpha1: expected a value <= 1"]),
    ("distill.mixup=1.5", ["distill.mixup: expected a value <= 1"]),
    ("distill.mixup_alpha=0", ["distill.mixup_alpha: expected a value > 0"]),
    ("prune.target=1.5", ["prune.target: expected a value < 1"]),
])
def test_invalid_settings_fail_before_training(tmp_path, setting, fragments):
    out = tmp_path / "run"
    command = {"distill": ["distill", "--teacher", tmp_path / "T.pt", "--epochs", "1"],
               "prune": ["prune", "--model", tmp_path / "T.pt"]}.get(setting.split(".")[0])
    if command is None:
        command = ["train", *TINY, "--epochs", "1"]
    one_error(run(*command, "--out", out, "--set", setting), *fragments)
    assert not (out / "last.pt").exists() and not (out / "model.pt").exists()


@pytest.mark.parametrize("args", [
    ("train", "--epochs", "0"), ("train", "--batch-size", "0"), ("distill", "--seed", "-1"),
    ("evaluate", "model.pt", "--latency-batch", "0"), ("bench", "scale", "--batch", "0"),
])
def test_numeric_options_are_checked_by_click(args):
    result = run(*args)
    assert result.exit_code == 2 and f"Invalid value for '{args[-2]}'" in result.output


def test_bench_options_reject_zero(tmp_path):
    result = run("bench", "prune", tmp_path, "--batch", "0")
    assert result.exit_code == 2 and "Invalid value for '--batch'" in result.output


@pytest.mark.parametrize("sizes, fragment", [
    ("16,x", "--batch-sizes: expected comma-separated whole numbers (got '16,x')"),
    ("16", "--batch-sizes: give at least two sizes"), ("0,16", "positive whole numbers"),
])
def test_tune_batch_sizes_are_checked(tmp_path, sizes, fragment):
    pytest.importorskip("optuna")
    one_error(run("tune", "--teacher", tmp_path / "T.pt", "--loss", "none", "--batch-sizes",
                  sizes, "--out", tmp_path / "tune"), fragment)


@pytest.mark.parametrize("seeds, fragment", [
    ("0,x", "--seeds: expected comma-separated whole numbers (got '0,x')"),
    ("1,1", "--seeds: seed 1 is given twice"), ("0,-2", "non-negative whole numbers"),
])
def test_tune_seed_lists_are_checked(tmp_path, seeds, fragment):
    pytest.importorskip("optuna")
    one_error(run("tune", "--teacher", tmp_path / "T.pt", "--loss", "tcd", "--seeds", seeds,
                  "--out", tmp_path / "tune"), fragment)


def test_divergent_training_blames_the_learning_rate(tmp_path):
    result = run("train", "--epochs", "1", "--lr", "1e30", "--out", tmp_path / "run", *TINY)
    one_error(result, "lr 1e+30", "lower train.lr")


# ----------------------------------------------------------------------------- data files


def _speeds(tmp_path, values=None, columns=("a", "b", "c")):
    values = np.full((72, len(columns)), 50.0) if values is None else values
    path = tmp_path / "speeds.csv"
    pd.DataFrame(values, columns=list(columns)).to_csv(path, index=False)
    return path


def _matrix(tmp_path, matrix):
    path = tmp_path / "graph.csv"
    np.savetxt(path, np.asarray(matrix, dtype=float), delimiter=",")
    return path


def _edges(tmp_path, rows):
    path = tmp_path / "edges.csv"
    pd.DataFrame(rows, columns=["from", "to", "cost"]).to_csv(path, index=False)
    return path


def info(speeds, graph, *extra):
    return run("data", "info", speeds, "--graph", graph, "--steps-per-day", "24",
               "--split", "1/1/1", *extra)


GRAPH3 = [[0, 100, 200], [100, 0, 150], [200, 150, 0]]


def test_empty_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    one_error(info(empty, _matrix(tmp_path, GRAPH3)), "empty.csv: the speeds file is empty")
    one_error(info(_speeds(tmp_path), empty), "empty.csv: the graph file is empty")
    (tmp_path / "los").mkdir()
    (tmp_path / "los" / "los_speed.csv").write_text("")
    np.savetxt(tmp_path / "los" / "los_adj.csv", np.ones((3, 3)), delimiter=",")
    one_error(run("data", "info", "los-loop", "--data-dir", tmp_path / "los"),
              "los_speed.csv: the speeds file is empty")
    header_only = tmp_path / "edges.csv"
    header_only.write_text("from,to,cost\n")
    one_error(info(_speeds(tmp_path), header_only), "expected at least one 'from,to,cost' row")


def test_non_finite_speeds(tmp_path):
    values = np.full((72, 3), 50.0)
    values[5, 1] = np.inf
    one_error(info(_speeds(tmp_path, values), _matrix(tmp_path, GRAPH3)),
              "expected finite readings", "row 5, sensor 'b'")


def test_negative_speeds_warn(tmp_path):
    values = np.full((72, 3), 50.0)
    values[2, 0] = -4.0
    result = info(_speeds(tmp_path, values), _matrix(tmp_path, GRAPH3))
    assert result.exit_code == 0, result.output
    assert any("1 negative reading(s) (first -4 at row 2, sensor 'a')" in w
               for w in warnings_of(result)), result.output


def test_edge_lists_by_name_or_position(tmp_path):
    speeds = _speeds(tmp_path, columns=("s10", "s20", "s30"))
    by_name = info(speeds, _edges(tmp_path, [["s10", "s20", 100.0], ["s20", "s30", 150.0]]))
    assert by_name.exit_code == 0, by_name.output
    by_position = info(speeds, _edges(tmp_path, [[0, 1, 100.0], [1, 2, 150.0]]))
    assert by_position.exit_code == 0, by_position.output
    edges = [line for line in by_name.output.splitlines() if "edges" in line]
    assert edges and edges == [line for line in by_position.output.splitlines()
                               if "edges" in line]


def test_edge_list_problems(tmp_path):
    speeds = _speeds(tmp_path)
    one_error(info(speeds, _edges(tmp_path, [[0, 1.5, 100.0]])),
              "'1.5' is not a sensor of the speeds header", "nor a 0-based position")
    one_error(info(speeds, _edges(tmp_path, [[0, 7, 100.0]])), "expected node ids in 0..2")
    one_error(info(speeds, _edges(tmp_path, [["a", "zz", 100.0]])), "'zz'")
    uncovered = info(speeds, _edges(tmp_path, [[0, 1, 100.0]]))
    assert uncovered.exit_code == 0, uncovered.output
    assert any("1 of 3 sensors have no edge (c)" in w for w in warnings_of(uncovered))


def test_all_zero_distance_matrix(tmp_path):
    one_error(info(_speeds(tmp_path), _matrix(tmp_path, np.zeros((3, 3)))),
              "every distance between different sensors is zero", "--graph-kind weight")


def test_steps_per_day_zero(tmp_path):
    result = run("data", "info", _speeds(tmp_path), "--graph", _matrix(tmp_path, GRAPH3),
                 "--steps-per-day", "0")
    assert result.exit_code == 2 and "Invalid value for '--steps-per-day'" in result.output


# ------------------------------------------------------------------------ where results go


def test_out_that_cannot_be_written(tmp_path, teacher):
    blocker = tmp_path / "file"
    blocker.write_text("")
    one_error(run("train", "--epochs", "1", "--out", blocker / "run", *TINY),
              f"--out {blocker / 'run'}: cannot write the run folder there")
    one_error(run("evaluate", teacher, "--json-out", blocker / "m.json"),
              "--json-out", "cannot write there")
    one_error(run("report", teacher.parent, "--out", blocker / "index.html", "--no-figures"),
              "--out", "cannot write there")


def test_out_holding_another_configuration(tmp_path, teacher):
    out = tmp_path / "run"
    assert run("train", "--epochs", "1", "--out", out, *TINY).exit_code == 0
    one_error(run("train", "--epochs", "2", "--out", out, *TINY),
              "holds a run with another configuration", "train.epochs: 1 -> 2", "--fresh")
    again = run("train", "--epochs", "2", "--out", out, "--fresh", *TINY)
    assert again.exit_code == 0, again.output
    pruned = tmp_path / "pruned"
    base = ["prune", "--model", teacher, "--teacher", teacher, "--out", pruned, "--quiet",
            "--set", "prune.finetune_epochs=0", "--set", "train.latency_batch=8",
            "--set", "train.latency_repeats=1"]
    first = run(*base, "--target", "0.3")
    assert first.exit_code == 0, first.output
    one_error(run(*base, "--target", "0.5"), "prune.target: 0.3 -> 0.5")
    one_error(run(*base, "--target", "0.3", "--mode", "unstructured"),
              "prune.mode: 'structured' -> 'unstructured'")


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoints_with_bad_contents(tmp_path, teacher):
    from pygkd.train.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint

    payload = load_checkpoint(teacher)
    broken = dict(payload, model_state={k: v[..., :1] for k, v in
                                        payload["model_state"].items()})
    save_checkpoint(tmp_path / "broken.pt", broken)
    one_error(run("evaluate", tmp_path / "broken.pt"),
              "the stored weights do not fit the stored model configuration")
    save_checkpoint(tmp_path / "config.pt", dict(payload, model_config={"blocks": "x"}))
    one_error(run("evaluate", tmp_path / "config.pt"), "config.pt:")
    newer = dict(payload)
    newer.pop("format_version")
    save_checkpoint(tmp_path / "newer.pt", newer)
    saved = torch.load(tmp_path / "newer.pt", weights_only=True)
    saved["format_version"] = FORMAT_VERSION + 1
    torch.save(saved, tmp_path / "newer.pt")
    one_error(run("evaluate", tmp_path / "newer.pt"), "written by a newer pygkd",
              f"format {FORMAT_VERSION + 1}", "upgrade pygkd")


def test_first_format_checkpoints_still_load(tmp_path, teacher):
    from pygkd.train.checkpoint import load_checkpoint, load_model

    payload = load_checkpoint(teacher)
    old = {k: v for k, v in payload.items() if k not in ("format", "format_version")}
    torch.save({"format": "pygkd-checkpoint-v1", **old}, tmp_path / "v1.pt")
    model, loaded = load_model(tmp_path / "v1.pt")
    assert loaded["format_version"] == 1
    assert model.config() == payload["model_config"]


def test_stale_temporary_files_are_removed(tmp_path):
    from pygkd.train.checkpoint import save_checkpoint

    stale = tmp_path / ".model.pt.abc123.tmp"
    stale.write_bytes(b"")
    save_checkpoint(tmp_path / "model.pt", {"x": 1})
    assert not stale.exists() and not list(tmp_path.glob("*.tmp"))


# ------------------------------------------------------------------------------- warnings


def test_student_given_as_teacher_warns(tmp_path, teacher):
    result = run("distill", "--teacher", teacher, "--preset", "teacher", "--epochs", "1",
                 "--out", tmp_path / "d", "--set", "train.latency_batch=8",
                 "--set", "train.latency_repeats=1", "--quiet")
    assert result.exit_code == 0, result.output
    assert any("no more than the student's" in w for w in warnings_of(result))


def test_unreachable_pruning_target_warns(tmp_path, teacher):
    result = run("prune", "--model", teacher, "--teacher", teacher, "--target", "0.99",
                 "--out", tmp_path / "p", "--quiet", "--set", "prune.max_epochs=1",
                 "--set", "prune.finetune_epochs=0", "--set", "train.latency_batch=8",
                 "--set", "train.latency_repeats=1")
    assert result.exit_code == 0, result.output
    assert any("target 99.0% not reached" in w for w in warnings_of(result)), result.output
    metrics = json.loads((tmp_path / "p" / "metrics.json").read_text())
    assert metrics["prune"]["target"] == 0.99


# ---------------------------------------------------------------------- recipes and others


def test_recipes_are_installed_and_named(tmp_path, monkeypatch):
    from pygkd.experiments.distill_tables import loss_recipe

    monkeypatch.chdir(tmp_path)  # outside the repository: the installed recipes are used
    assert loss_recipe("rd-kl")["distill"]["beta"] == pytest.approx(0.007)
    listed = run("recipes")
    assert listed.exit_code == 0 and "distill/stcd" in listed.output
    assert "train:" in run("recipes", "distill/stcd").output
    one_error(run("train", "--recipe", "distill/nope"), "'distill/nope'", "pygkd recipes")
    (tmp_path / "mine").mkdir()
    one_error(run("compare", "distill", "--teacher", tmp_path / "t.pt", "--recipes",
                  tmp_path / "mine", "--losses", "stcd"), "stcd.yaml", "file not found")


def test_unexpected_errors_are_one_line_unless_debug(monkeypatch):
    import pygkd.cli.recipes as recipes_cli
    import pygkd.train.recipes as recipes

    def broken():
        raise RuntimeError("something inside broke\nsecond line")

    monkeypatch.setattr(recipes, "list_recipes", broken)
    assert recipes_cli  # the command module is loaded lazily by the group
    result = run("recipes")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and lines == [
        "Error: RuntimeError: something inside broke (run 'pygkd --debug ...' for the "
        "traceback)"]
    with pytest.raises(RuntimeError):
        run("--debug", "recipes")


def test_quiet_keeps_warnings_and_results(tmp_path):
    values = np.full((72, 3), 50.0)
    values[0, 0] = -1.0
    result = run("-q", "data", "info", _speeds(tmp_path, values), "--graph",
                 _matrix(tmp_path, GRAPH3), "--steps-per-day", "24", "--split", "1/1/1")
    assert result.exit_code == 0 and warnings_of(result)
    assert "missing share" in result.output  # what data info prints is a result


def test_comparisons_never_reuse_runs_made_with_other_settings(tmp_path, teacher):
    out = tmp_path / "cmp"
    base = ["compare", "distill", "--teacher", teacher, "--losses", "none", "--seeds", "0",
            "--out", out, "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1"]
    first = run(*base, "--set", "train.epochs=1")
    assert first.exit_code == 0, first.output
    again = run(*base, "--set", "train.epochs=1")  # same settings: reused
    assert again.exit_code == 0 and "done earlier, reusing" in again.output
    one_error(run(*base, "--set", "train.epochs=2"),
              "holds a run with another configuration (train.epochs: 1 -> 2)",
              "delete that folder", alone=False)  # after the shared-settings line
