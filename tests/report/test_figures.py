"""Figures are real images with labelled axes and legends."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from pygkd.report.figures import curves_figure, forecast_figure, save_figure, tsne_figure


def check_images(files, min_kb=5):
    """PNG and SVG exist, parse, and are of plausible size."""
    suffixes = sorted(f.suffix for f in files)
    assert suffixes == [".png", ".svg"]
    for path in files:
        assert path.stat().st_size > min_kb * 1024, path
        if path.suffix == ".png":
            with Image.open(path) as image:
                image.verify()
            with Image.open(path) as image:
                assert image.format == "PNG"
                width, height = image.size
                assert 400 <= width <= 4000 and 250 <= height <= 4000, image.size
        else:
            root = ET.parse(path).getroot()
            assert root.tag.endswith("svg")


def labelled(fig, legend_entries):
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel()
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        for entry in legend_entries:
            assert entry in texts, (entry, texts)


def test_curves_figure(tmp_path):
    history = [{"epoch": e, "loss": 1.0 / e, "val_mae": 5.0 - 0.1 * e} for e in range(1, 6)]
    fig = curves_figure({"teacher": history, "student": history[:3]})
    labelled(fig, ["teacher", "student"])
    assert [len(line.get_xdata()) for line in fig.axes[1].get_lines()] == [5, 3]
    check_images(save_figure(fig, tmp_path / "curves"))


def test_forecast_figure_one_plot_then_panels(tmp_path):
    hours = np.linspace(0, 24, 200)
    truth = 60 - 30 * np.exp(-((hours - 8) ** 2))
    few = {"Teacher": truth + 1, "Student": truth - 1}
    fig = forecast_figure(hours, truth, few, sensor=3, ahead="15min")
    assert len(fig.axes) == 1
    labelled(fig, ["Ground truth", "Teacher", "Student"])
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), truth)
    check_images(save_figure(fig, tmp_path / "forecast"))
    many = {"Teacher": truth, **{f"S{i}": truth + i for i in range(5)}}
    fig = forecast_figure(hours, truth, many, sensor=3, ahead="15min")
    assert len(fig.axes) == 5
    for i, ax in enumerate(fig.axes):
        labelled(type("F", (), {"axes": [ax]}), ["Ground truth", "Teacher", f"S{i}"])


def test_tsne_figure(tmp_path):
    rng = np.random.default_rng(0)
    panels = [(f"student {i}", rng.normal(size=(50, 2)), rng.normal(size=(50, 2)))
              for i in range(2)]
    fig = tsne_figure(panels)
    assert len(fig.axes) == 2
    labelled(fig, ["Teacher"])
    colours = [tuple(np.round(c.get_facecolor()[0], 3)) for c in fig.axes[0].collections]
    assert len(set(colours)) == 2  # teacher and student drawn in two colours
    check_images(save_figure(fig, tmp_path / "tsne"))
    with pytest.raises(ValueError, match="at least one panel"):
        tsne_figure([])
