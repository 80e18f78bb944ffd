"""What comes in through checkpoints, settings and output paths: stored data paths are
verified, settings a command would ignore are refused, writers never follow links."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pygkd.cli import main
from pygkd.errors import InputError
from tests.conftest import TINY_NETWORK
from tests.conftest import one_error as shared_one_error

CLASS = settings(max_examples=10, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


def one_error(result, *fragments):
    return shared_one_error(result, *fragments, alone=False)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _own_files(folder: Path, names=("a", "b", "c", "d")) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    steps = 24 * 6
    frame = pd.DataFrame(50 + rng.normal(0, 4, (steps, len(names))).round(2), columns=names)
    frame.insert(0, "timestamp", pd.date_range("2024-01-01", periods=steps, freq="1h")
                 .strftime("%Y-%m-%d %H:%M"))
    frame.to_csv(folder / "speeds.csv", index=False)
    graph = np.ones((len(names), len(names))) * 1000.0
    np.fill_diagonal(graph, 0.0)
    np.savetxt(folder / "graph.csv", graph, delimiter=",")
    return folder / "speeds.csv", folder / "graph.csv"


OWN = ["--split", "4/1/1", "--in-steps", "9", "--out-steps", "3", "--epochs", "1",
       "--preset", "student", "--quiet", "--set", "train.latency_batch=4",
       "--set", "train.latency_repeats=1"]


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    speeds, graph = _own_files(folder)
    result = run("train", "--dataset", speeds, "--graph", graph, "--out", folder / "run", *OWN)
    assert result.exit_code == 0, result.output
    return folder, speeds, graph, folder / "run" / "model.pt"


# ------------------------------------------------------------------- stored data paths


def test_checkpoints_fingerprint_their_data_files(own_run):
    folder, speeds, graph, model = own_run
    files = torch.load(model, weights_only=True)["data"]["files"]
    assert set(files) == {str(speeds.resolve()), str(graph.resolve())}
    assert files[str(speeds.resolve())]["size"] == speeds.stat().st_size
    result = run("-v", "evaluate", model, "--latency-batch", "4")
    assert result.exit_code == 0, result.output
    assert f"reading data from {speeds.resolve()} (as trained)" in result.output


def test_a_changed_data_file_is_refused_unless_given_explicitly(own_run, tmp_path):
    folder, speeds, graph, model = own_run
    copy = tmp_path / "run"
    copy.mkdir()
    changed = tmp_path / "speeds.csv"
    changed.write_text(speeds.read_text())
    payload = torch.load(model, weights_only=True)
    files = payload["data"]["files"]
    files[str(changed.resolve())] = files.pop(str(speeds.resolve()))
    payload["data"]["name"] = str(changed.resolve())
    torch.save(payload, copy / "model.pt")
    assert run("evaluate", copy / "model.pt", "--latency-batch", "4").exit_code == 0
    frame = pd.read_csv(changed)
    frame.iloc[3, 1] += 1.0  # one reading changed: same size class, another file
    frame.to_csv(changed, index=False)
    for command in (["evaluate", copy / "model.pt"],
                    ["distill", "--teacher", copy / "model.pt", "--out", tmp_path / "d"]):
        one_error(run(*command), str(changed.resolve()), "changed since", "SHA-256")
    explicit = run("evaluate", copy / "model.pt", "--dataset", changed, "--graph", graph,
                   "--split", "4/1/1", "--in-steps", "9", "--out-steps", "3",
                   "--latency-batch", "4")
    assert explicit.exit_code == 0, explicit.output


@CLASS
@given(renamed=st.sets(st.integers(0, 3), min_size=1, max_size=2))
def test_evaluate_refuses_other_sensors_by_name(own_run, renamed):
    folder, speeds, graph, model = own_run
    frame = pd.read_csv(speeds)
    other = folder / "other.csv"
    frame.rename(columns={"abcd"[i]: f"x{i}" for i in renamed}).to_csv(other, index=False)
    line = one_error(run("evaluate", model, "--dataset", other, "--graph", graph, "--split",
                         "4/1/1", "--in-steps", "9", "--out-steps", "3"),
                     "sensors differ from the model's 4")
    for i in renamed:
        assert "abcd"[i] in line and f"x{i}" in line


# ------------------------------------------------------------------------------ settings


@pytest.mark.parametrize("command", [
    ["distill", "--teacher", "T.pt"], ["prune", "--model", "T.pt"],
    ["compare", "distill", "--teacher", "T.pt"], ["tune", "--teacher", "T.pt"],
])
@pytest.mark.parametrize("key", ["data.split=1/1/1", "data.options.num_nodes=7",
                                 "data.in_steps=6"])
def test_set_keys_a_command_does_not_use_are_refused(command, key):
    one_error(run(*command, "--set", key), f"--set {key}", "does not use data.* settings")


@pytest.mark.parametrize("key", ["distill.alpha1=0.5", "prune.target=0.5"])
def test_train_refuses_distill_and_prune_settings(key):
    one_error(run("train", "--set", key), f"--set {key}", "train does not use")


@CLASS
@given(key=st.sampled_from(["seed", "lr", "epochs", "batch_size"]),
       first=st.integers(1, 9), second=st.integers(10, 99))
def test_duplicate_recipe_keys_are_an_error(tmp_path, key, first, second):
    recipe = tmp_path / "r.yaml"
    if key == "seed":
        recipe.write_text(f"seed: {first}\ntrain:\n  epochs: 1\nseed: {second}\n")
        line = 4
    else:
        recipe.write_text(f"train:\n  {key}: {first}\n  {key}: {second}\n")
        line = 3
    one_error(run("train", "--recipe", recipe), f"key '{key}' appears twice", f"and {line}")


@pytest.mark.parametrize("args, fragment", [
    (["--model", "gconvgru", "--blocks", "1,2,4;4,2,8"], "model.blocks (--blocks)"),
    (["--model", "stgcn", "--hidden", "8"], "model.hidden (--hidden) is not used by stgcn"),
    (["--model", "tgcn", "--layers", "2"], "model.layers (--layers) is only used by stconv"),
])
def test_options_a_family_does_not_use_are_refused(tmp_path, args, fragment):
    one_error(run("train", *args, "--out", tmp_path / "r"), fragment)
    assert not (tmp_path / "r").exists()


def test_teacher_weights_with_one_teacher_are_refused(own_run, tmp_path):
    model = own_run[3]
    one_error(run("distill", "--teacher", model, "--teacher-weights", "1", "--out",
                  tmp_path / "d"), "--teacher-weights", "with one teacher")


@pytest.mark.parametrize("command", [
    ["train"], ["distill", "--teacher", "T.pt"], ["predict", "T.pt", "--input", "x.csv"],
    ["export", "T.pt"], ["data", "export", "synthetic"], ["evaluate", "T.pt", "--json-out"],
])
def test_empty_out_is_refused(command):
    flag = [] if command[-1] == "--json-out" else ["--out"]
    result = run(*command, *flag, "")
    assert result.exit_code == 2 and "got an empty string" in result.output, result.output


# ------------------------------------------------------------------------------- writers


def test_writers_check_out_before_any_work(own_run, tmp_path):
    folder, speeds, graph, model = own_run
    blocker = tmp_path / "file"
    blocker.write_text("")
    target = blocker / "x.csv"  # a path under a file: cannot be written
    for command in (["predict", model, "--input", speeds, "--out", target],
                    ["export", model, "--out", blocker / "m.onnx"],
                    ["data", "export", "synthetic", "--out", target]):
        one_error(run(*command), f"--out {blocker}", "cannot write there")


@pytest.mark.parametrize("option", ["predict", "data export", "json-out"])
def test_outputs_never_write_through_a_link(own_run, tmp_path, option):
    folder, speeds, graph, model = own_run
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    link = tmp_path / "out.csv"
    link.symlink_to(outside)
    command = {"predict": ["predict", model, "--input", speeds, "--out", link],
               "data export": ["data", "export", "synthetic", "--out", link],
               "json-out": ["evaluate", model, "--json-out", link]}[option]
    one_error(run(*command), "is a symbolic link")
    assert outside.read_text() == "keep me" and link.is_symlink()


def test_fresh_and_run_files_replace_links_not_their_targets(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("model.pt", "config.yaml", "metrics.json"):
        (outside / name).write_text("keep me")
        (out / name).symlink_to(outside / name)
    result = run("train", "--epochs", "1", "--preset", "student", "--out", out, "--fresh",
                 *TINY_NETWORK, "--quiet")
    assert result.exit_code == 0, result.output
    for name in ("model.pt", "config.yaml", "metrics.json"):
        assert (outside / name).read_text() == "keep me"
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 0


def test_export_warns_on_an_extension_of_another_format(own_run, tmp_path):
    model = own_run[3]
    result = run("export", model, "--format", "exported-program", "--out", tmp_path / "x.onnx")
    assert result.exit_code == 0, result.output
    assert "Warning: --out" in result.output and "usually end in .pt2" in result.output


# --------------------------------------------------------------------------- Python API


def test_trainer_refuses_a_folder_of_another_run(tmp_path):
    from pygkd.nn import STGCN
    from pygkd.testing import toy_forecast_dataset
    from pygkd.train import TrainConfig, Trainer

    ds = toy_forecast_dataset()
    config = TrainConfig(epochs=1, batch_size=8, max_batches=2, eval_batch_size=16)
    Trainer(STGCN(6, [[1, 2, 4], [4, 2, 4]]), ds, config, tmp_path).fit(progress=False)
    longer = TrainConfig(epochs=2, batch_size=8, max_batches=2, eval_batch_size=16)
    with pytest.raises(InputError, match="holds a run with a different configuration"):
        Trainer(STGCN(6, [[1, 2, 4], [4, 2, 4]]), ds, longer, tmp_path).fit(progress=False)
    with pytest.raises(InputError, match="different configuration"):  # another width
        Trainer(STGCN(6, [[1, 3, 4], [4, 3, 4]]), ds, config, tmp_path).fit(progress=False)
    same = Trainer(STGCN(6, [[1, 2, 4], [4, 2, 4]]), ds, config, tmp_path)
    assert same.fit(progress=False).epoch == 1  # the same run resumes: nothing left to do
    assert os.path.exists(tmp_path / "last.pt")


# ------------------------------------------------------------------ messages that misled


def test_a_corrupt_metrics_file_is_named_not_missing(tmp_path):
    from pygkd.files import read_json

    run_dir = tmp_path / "runs" / "a"
    run_dir.mkdir(parents=True)
    (run_dir / "model.pt").write_bytes(b"")
    (run_dir / "metrics.json").write_text('{"test": {"15min": ')
    line = one_error(run("report", tmp_path / "runs", "--out", tmp_path / "r.html"),
                     "metrics.json", "not valid JSON")
    assert "found no" not in line
    with pytest.raises(InputError, match="not valid JSON"):
        read_json(run_dir / "metrics.json")


@pytest.mark.parametrize("nodes, expected", [(207, 1140), (228, 1140), (675, 385),
                                             (8600, 30)])
def test_latency_batches_are_bounded_and_named(nodes, expected):
    from pygkd.tables import results_table
    from pygkd.train.evaluate import LATENCY_SENSOR_WINDOWS

    assert min(1140, LATENCY_SENSOR_WINDOWS // nodes) == expected
    summary = {"parameters": 10, "latency": {"batch": expected, "mean_s": 0.5}}
    head = results_table([("m", {}, summary)], horizons=[]).splitlines()[0]
    assert f"Latency (ms, batch {expected:,})" in head


def test_measured_latency_uses_the_bounded_batch():
    from pygkd.nn import STGCN
    from pygkd.testing import toy_forecast_dataset
    from pygkd.train.evaluate import LATENCY_SENSOR_WINDOWS, measure_latency

    ds = toy_forecast_dataset(num_nodes=6)
    model = STGCN(6, [[1, 2, 4], [4, 2, 4]])
    assert measure_latency(model, ds, batch_size=8, repeats=1)["batch"] == 8
    huge = LATENCY_SENSOR_WINDOWS // 6 + 50
    assert measure_latency(model, ds, batch_size=huge, repeats=1)["batch"] == huge - 50
