"""The command line, as a user runs it (click's CliRunner, toy recipes in tmp_path)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from pygkd import __version__
from pygkd.cli import main
from pygkd.experiments.quickstart import QUICKSTART

REPO = Path(__file__).resolve().parents[2]
TINY = ["--set", "data.options.num_nodes=6", "--set", "data.options.num_days=3",
        "--set", "data.options.steps_per_day=48", "--set", "data.split=1/1/1",
        "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1"]


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


def _commands(group, prefix=()):
    import click

    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield prefix + (name,)
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, prefix + (name,))


def test_version_and_help_everywhere():
    assert __version__ in run("--version").output
    for path in _commands(main):
        result = run(*path, "--help")
        assert result.exit_code == 0 and "Usage: " in result.output, path


def test_data_info_synthetic():
    result = run("data", "info", "synthetic")
    assert result.exit_code == 0
    text = result.output
    assert "nodes                              40" in text
    assert "split (train/val/test)             6/1/1 days" in text
    assert "window (in + out steps)            12 + 9; horizons 15min, 30min, 45min" in text
    assert "windows train/val/test             1,608/268/268" in text


def test_train_then_evaluate(tmp_path):
    out = tmp_path / "run"
    result = run("train", "--preset", "student", "--epochs", "2", "--batch-size", "8",
                 "--quiet", "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    assert "Persistence (last observed value)" in result.output and "| Student |" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["model"]["blocks"] == [[1, 2, 4], [4, 2, 8]]
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["train"]["batch_size"] == 8 and config["data"]["options"]["num_nodes"] == 6
    evaluated = run("evaluate", out / "model.pt", "--latency-batch", "8", "--json-out",
                    tmp_path / "eval.json")
    assert evaluated.exit_code == 0, evaluated.output
    again = json.loads((tmp_path / "eval.json").read_text())
    assert again["test"]["90min"]["MAE"] == pytest.approx(metrics["test"]["90min"]["MAE"], rel=1e-5)
    # a second call with the same folder resumes and has nothing left to do
    resumed = run("train", "--preset", "student", "--epochs", "2", "--batch-size", "8",
                  "--quiet", "--out", out, *TINY)
    assert "resuming" in resumed.output and "epoch   1" not in resumed.output


def test_explicit_blocks(tmp_path):
    result = run("train", "--blocks", "1,3,6;6,3,6", "--epochs", "1", "--quiet", "--out",
                 tmp_path, *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "metrics.json").read_text())["model"]["blocks"] == [
        [1, 3, 6], [6, 3, 6]]


def test_quickstart_recipe_file_matches_builtin():
    assert yaml.safe_load((REPO / "recipes" / "quickstart.yaml").read_text()) == QUICKSTART


def test_quickstart_prints_the_table_and_writes_the_report(quickstart_run):
    tmp_path, result = quickstart_run
    assert result.exit_code == 0, result.output
    # 333,604 at N=228; LayerNorms (2N x 64, 128, 128) and the readout bias scale with N: 641 N
    assert f"| Teacher | {333_604 - 641 * (228 - 6):,} |" in result.output
    assert (tmp_path / "teacher" / "metrics.json").exists()
    # 10,144 at N=228; the student's LayerNorms (2N x 4, 8, 8) and readout bias: 41 N
    student = f"{10_144 - 41 * (228 - 6):,}"
    assert f"| Student W/O KD | {student} |" in result.output
    assert f"| Student L_STCD | {student} |" in result.output
    assert "| Student by Algorithm 1 (structured) |" in result.output
    found = json.loads((tmp_path / "student-pruned" / "metrics.json").read_text())
    assert found["model"]["parameters"] <= (10_144 - 41 * (228 - 6)) * 1.05
    distilled = json.loads((tmp_path / "student-stcd" / "metrics.json").read_text())
    assert distilled["distill"]["loss"] == "stcd" and "teacher_share" in distilled
    report = tmp_path / "report" / "index.html"
    assert f"Report: {report}" in result.output
    page = report.read_text()
    assert "| Student L_STCD |" in (tmp_path / "comparison.md").read_text()
    assert "<td>Student L_STCD</td>" in page and page.count("data:image/png;base64,") == 3


def _bad_files(tmp_path, case):
    speeds = pd.DataFrame({"a": [50.0] * 12, "b": [40.0] * 12})
    graph = np.array([[0.0, 100.0], [100.0, 0.0]])
    if case == "nan-sensor":
        speeds["b"] = np.nan
    if case == "nodes":
        graph = np.zeros((3, 3))
    if case == "non-square":
        graph = np.zeros((2, 3))
    if case == "negative":
        graph = np.array([[0.0, -1.0], [-1.0, 0.0]])
    speeds.to_csv(tmp_path / "s.csv", index=False)
    np.savetxt(tmp_path / "g.csv", graph, delimiter=",")
    if case == "shape":
        (tmp_path / "s.csv").write_text("a,b\n1,x\n")
    return tmp_path / "s.csv", tmp_path / "g.csv"


@pytest.mark.parametrize("case, message", [
    ("missing", "file not found"),
    ("shape", "expected numeric readings"),
    ("nodes", "the graph has 3 nodes but"),
    ("non-square", "expected a square distance matrix"),
    ("negative", "expected non-negative distances"),
    ("nan-sensor", "have no valid reading"),
    ("split", "--split: expected day counts"),
])
def test_bad_input_is_one_line(tmp_path, case, message):
    speeds, graph = _bad_files(tmp_path, case)
    if case == "missing":
        speeds = tmp_path / "absent.csv"
    split = "1-1-1" if case == "split" else "1/1/1"
    result = run("data", "info", speeds, "--graph", graph, "--steps-per-day", "4",
                 "--split", split)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines


def test_unknown_preset_and_bad_recipe(tmp_path):
    result = run("train", "--preset", "huge")
    assert result.exit_code == 2 and "'huge' is not one of" in result.output
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {preset: huge}\n")
    result = run("train", "--recipe", recipe)
    assert result.exit_code == 2 and "model.preset: unknown 'huge'" in result.output
    recipe.write_text("train: {epochs: 0}\n")
    result = run("train", "--recipe", recipe)
    assert result.exit_code == 2 and "train.epochs: expected a value >= 1 (got 0)" in result.output
    recipe.write_text("trian: {}\n")
    result = run("train", "--recipe", recipe)
    assert "unknown key(s) ['trian']" in result.output
    result = run("train", "--blocks", "1,2;3")
    assert result.exit_code == 2 and "--blocks: expected blocks" in result.output
    result = run("evaluate", tmp_path / "none.pt")
    assert result.exit_code == 2 and "checkpoint not found" in result.output


@pytest.mark.parametrize("recipe", sorted((REPO / "recipes").rglob("*.yaml")),
                         ids=lambda p: p.relative_to(REPO / "recipes").as_posix())
def test_every_recipe_file_is_valid(recipe):
    from pygkd.train.config import load_recipe

    config = load_recipe(recipe)
    if recipe.parent.name == "distill":
        assert config.distill.loss == recipe.stem and config.model.preset == "student"


def test_help_and_version_import_neither_torch_nor_pyg():
    import subprocess
    import sys

    code = ("import sys\nfrom pygkd.cli import main\n"
            "for args in (['--help'], ['--version']):\n"
            "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
            "assert 'torch' not in sys.modules and 'torch_geometric' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Commands:" in out.stdout and "predict" in out.stdout
