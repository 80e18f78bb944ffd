import pytest
from click.testing import CliRunner

from pygkd.cli import main
from tests.conftest import no_data

TINY = ["--set", "data.options.num_nodes=6", "--set", "data.options.num_days=3",
        "--set", "data.options.steps_per_day=48", "--set", "data.split=1/1/1",
        "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1",
        "--epochs", "1", "--quiet", "--device", "cpu"]
DATA = ["--nodes", "6", "--days", "3", "--steps-per-day", "48"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A tiny teacher, a student distilled from it and an Algorithm-1 structured pruned model
    on a 6-sensor synthetic network, plus that network as an own-data CSV."""
    root = tmp_path_factory.mktemp("deploy")
    result = invoke("train", "--blocks", "1,4,8;8,4,8", "--out", root / "teacher", *TINY)
    assert result.exit_code == 0, result.output
    teacher = root / "teacher" / "model.pt"
    result = invoke("distill", "--teacher", teacher, "--out", root / "student", *no_data(TINY))
    assert result.exit_code == 0, result.output
    result = invoke("prune", "--model", teacher, "--teacher", teacher, "--target", "0.5",
                    "--set", "prune.step_share=0.3", "--set", "prune.pruning_minibatch=2",
                    "--set", "prune.finetune_epochs=1", "--out", root / "pruned",
                    *no_data([a for a in TINY if a != "--epochs" and a != "1"]))
    assert result.exit_code == 0, result.output
    return {"teacher": teacher, "student": root / "student" / "model.pt",
            "pruned": root / "pruned" / "model.pt", "root": root}
