"""Open registries: a package installed beside pygkd adds a model family and a loss through
the ``pygkd.models`` / ``pygkd.losses`` entry points, and the command line uses them."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from click.testing import CliRunner

import pygkd.cli.distill  # noqa: F401  (the commands exist before the plug-in is installed)
import pygkd.cli.train  # noqa: F401
from pygkd.cli import main
from tests.conftest import TINY_NETWORK, no_data

PLUGIN = '''
from pygkd.distill.registry import ResponseCriterion
from pygkd.distill.losses import ResponseL2Loss
from pygkd.nn.models.recurrent import GConvGRUForecaster


class TinyGRU(GConvGRUForecaster):
    """A third-party family: a GConvGRU under another name."""
    family = "tinygru"


def build_half_l2(config):
    """Half the student-teacher L2 distance on the outputs (a third-party loss)."""
    return ResponseCriterion(ResponseL2Loss(0.5))
'''


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A package ``pygkd_testplugin`` installed on ``sys.path`` with a dist-info folder that
    declares its entry points, as ``pip install`` leaves one."""
    site = tmp_path / "site"
    (site / "pygkd_testplugin").mkdir(parents=True)
    (site / "pygkd_testplugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "pygkd_testplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pygkd-testplugin\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[pygkd.models]\ntinygru = pygkd_testplugin:TinyGRU\n\n"
        "[pygkd.losses]\nhalf-l2 = pygkd_testplugin:build_half_l2\n")
    monkeypatch.syspath_prepend(str(site))
    yield
    from pygkd.distill.registry import LOSSES
    from pygkd.nn.models.registry import MODELS

    LOSSES.pop("half-l2", None)
    MODELS.pop("tinygru", None)
    sys.modules.pop("pygkd_testplugin", None)


def test_entry_points_add_a_model_and_a_loss_to_the_command_line(installed_plugin, tmp_path):
    from pygkd.distill.registry import LOSSES, loss_names
    from pygkd.nn.models.registry import MODELS, model_names

    assert "tinygru" in model_names() and "half-l2" in loss_names()
    runner = CliRunner()
    common = [*TINY_NETWORK, "--quiet", "--epochs", "1"]
    result = runner.invoke(main, ["train", "--model", "tinygru", "--hidden", "4", "--out",
                                  str(tmp_path / "t"), *common], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert saved["model"]["family"] == "tinygru"
    result = runner.invoke(main, ["distill", "--teacher", str(tmp_path / "t" / "model.pt"),
                                  "--loss", "half-l2", "--out", str(tmp_path / "s"),
                                  *no_data(common)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "s" / "metrics.json").read_text())["distill"]["loss"] == \
        "half-l2"
    assert LOSSES["half-l2"].label == "Student half-l2"
    assert MODELS["tinygru"].target == "pygkd_testplugin:TinyGRU"


def test_nothing_is_registered_by_importing_pygkd():
    import subprocess

    code = ("import pygkd, pygkd.distill, pygkd.nn.models as m; "
            "from pygkd.distill.registry import LOSSES; "
            "print(len(m.MODELS), len(LOSSES))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["6", "9"], out.stderr
