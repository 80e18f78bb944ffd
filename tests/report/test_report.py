"""``pygkd report`` and ``pygkd plot`` on a tiny quickstart run."""

import json
from pathlib import Path

from click.testing import CliRunner

from pygkd.cli import main
from pygkd.report.page import find_runs, markdown_to_html, representatives
from tests.report.test_figures import check_images


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_markdown_tables_become_html():
    page = markdown_to_html("A & B\n\n| Model | MAE |\n|---|---:|\n| <x> | 1.0 ± 0.1 |")
    assert page == ("<p>A &amp; B</p>\n<table><thead><tr><th>Model</th><th>MAE</th></tr></thead>"
                    "<tbody><tr><td>&lt;x&gt;</td><td>1.0 ± 0.1</td></tr></tbody></table>")


def _fake_run(folder: Path, mae: float):
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"")
    (folder / "metrics.json").write_text(json.dumps({"test": {"15min": {"MAE": mae}}}))


def test_one_representative_per_configuration(tmp_path):
    for loss in ("none", "stcd"):
        for seed in (2, 0, 1):
            _fake_run(tmp_path / loss / f"seed{seed}", seed)
    _fake_run(tmp_path / "teacher", 0)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.json").write_text("{}")  # no model.pt: not a run
    runs = find_runs([tmp_path])
    assert len(runs) == 7
    reps = representatives(runs)
    assert [r.label.split("/", 1)[1] for r in reps] == ["none/seed0", "stcd/seed0", "teacher"]


def test_quickstart_report_has_tables_figures_configs_environment(quickstart_run):
    out, result = quickstart_run
    assert result.exit_code == 0, result.output
    page = (out / "report" / "index.html").read_text()
    for part in ("<h2>Comparisons</h2>", "<h2>Runs (4)</h2>", "<h2>Figures</h2>",
                 "<h2>Configurations</h2>", "<h2>Environment</h2>", "<td>torch</td>",
                 "Student by Algorithm 1 (structured)", "t-SNE of the hidden representation"):
        assert part in page, part
    for stem in ("training-curves", "forecast", "tsne"):
        check_images([out / "report" / "figures" / f"{stem}.{s}" for s in ("png", "svg")])


def test_report_command_elsewhere_and_without_figures(quickstart_run, tmp_path):
    out, _ = quickstart_run
    target = tmp_path / "share" / "page.html"
    result = run("report", out / "student-stcd", out / "teacher", "--out", target, "--no-figures")
    assert result.exit_code == 0 and f"Report: {target}" in result.output
    page = target.read_text()
    assert "<h2>Runs (2)</h2>" in page and "<h2>Figures</h2>" not in page
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = run("report", empty)
    assert bad.exit_code == 2 and "found no metrics.json or comparison.md" in bad.output


def test_plot_commands(quickstart_run, tmp_path):
    out, _ = quickstart_run
    teacher, student = out / "teacher" / "model.pt", out / "student-stcd" / "model.pt"
    figs = tmp_path / "figs"
    assert run("plot", "curves", out, "--out", figs).exit_code == 0
    result = run("plot", "forecast", "--teacher", teacher, "--model", f"STCD={student}",
                 "--sensor", 1, "--out", figs)
    assert result.exit_code == 0, result.output
    result = run("plot", "tsne", "--teacher", teacher, "--student", student, "--samples", 20,
                 "--out", figs)
    assert result.exit_code == 0, result.output
    for stem in ("training-curves", "forecast", "tsne"):
        check_images([figs / f"{stem}.{s}" for s in ("png", "svg")])
    bad = run("plot", "forecast", "--teacher", teacher, "--model", "x=missing.pt")
    assert bad.exit_code == 2 and "no such checkpoint 'missing.pt'" in bad.output
    bad = run("plot", "forecast", "--teacher", teacher, "--sensor", 99, "--out", figs)
    assert bad.exit_code == 2 and "--sensor: expected 0..5, got 99" in bad.output
