"""Shared fixtures. Real data lives in ../shared/data beside the repository; tests that need
it skip with the reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PYGKD_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (real data from ../shared/data is not available here)")
    return path


@pytest.fixture
def shared_data() -> Path:
    shared_file("los_speed.csv")
    shared_file("los_adj.csv")
    return SHARED_DATA


TINY_NETWORK = ["--set", "data.options.num_nodes=6", "--set", "data.options.num_days=3",
                "--set", "data.options.steps_per_day=48", "--set", "data.split=1/1/1",
                "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1"]


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory):
    """One tiny ``pygkd quickstart`` (6 sensors, 1 teacher epoch), report included:
    ``(output folder, click result)``."""
    from click.testing import CliRunner

    from pygkd.cli import main

    out = tmp_path_factory.mktemp("quickstart")
    result = CliRunner().invoke(main, ["quickstart", "--quiet", "--out", str(out), "--set",
                                       "train.epochs=1", *TINY_NETWORK], catch_exceptions=False)
    return out, result


def no_data(args):
    """``args`` without ``--set data.*`` pairs: for commands that read the data a checkpoint
    was trained on (distill, prune, compare, tune), where such a setting is an error."""
    out, skip = [], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "--set" and i + 1 < len(args) and str(args[i + 1]).startswith("data."):
            skip = True
            continue
        out.append(arg)
    return out


def one_error(result, *fragments, alone=True):
    """Exit code 2, no traceback, one ``Error: ...`` line holding every fragment (with
    ``alone``, the only non-empty line); returns that line."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and (not alone or len(lines) == 1), lines
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def run_pruning(model, dataset, step_loss, config, out_dir, train=None):
    """Algorithm 1's pruning phase as ``pygkd prune`` runs it: a KDPruner callback inside the
    Trainer; returns the pruner (detached)."""
    import dataclasses

    from pygkd.prune import KDPruner
    from pygkd.train import Trainer
    from pygkd.train.config import TrainConfig

    pruner = KDPruner.from_config(model, config)
    train = dataclasses.replace(train or TrainConfig(batch_size=4), epochs=config.max_epochs,
                                patience=config.max_epochs + 1)
    Trainer(model, dataset, train, out_dir, step_loss=step_loss, device="cpu",
            callbacks=[pruner], restore_best=False).fit(progress=False)
    pruner.detach()
    return pruner


def train_stgcn(tmp_path, name, blocks):
    """``pygkd train --blocks BLOCKS`` for one epoch on the tiny network; the model's path."""
    from click.testing import CliRunner

    from pygkd.cli import main

    result = CliRunner().invoke(main, ["train", "--blocks", blocks, "--epochs", "1", "--quiet",
                                       "--out", str(tmp_path / name), *TINY_NETWORK],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return tmp_path / name / "model.pt"
