"""``pygkd report`` and ``pygkd plot`` on a tiny quickstart run."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pygkd.cli import main
from pygkd.report.page import find_runs, markdown_to_html, representatives, write_report
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


def test_pareto_section_times_every_configuration_and_marks_the_front(quickstart_run, tmp_path):
    """``pygkd report --pareto``: one row per configuration (the teacher included), ONNX
    Runtime latencies, and front marks that follow from the rows' own values."""
    pytest.importorskip("onnxruntime")
    from pygkd.report.page import find_runs
    from pygkd.report.pareto import pareto_front, pareto_rows, pareto_table

    out, _ = quickstart_run
    runs = [r for r in find_runs([out]) if r.path.name in ("teacher", "student-pruned")]
    rows, left_out = pareto_rows(runs, batch=8, repeats=3)  # two exports keep the test short
    assert not left_out
    labels = {r.label.rsplit("/", 1)[-1] for r in rows}
    assert labels == {"teacher", "student-pruned"}
    for row in rows:
        metrics = json.loads((out / row.label.rsplit("/", 1)[-1] / "metrics.json").read_text())
        assert row.parameters == metrics["model"]["parameters"]
        assert row.mae == {h: v["MAE"] for h, v in metrics["test"].items()}
        assert row.one_ms > 0 and row.batch_ms > 0
    first = next(iter(rows[0].mae))
    assert [r.front_one for r in rows] == pareto_front([(r.one_ms, r.mae[first]) for r in rows])
    assert [r.front_batch for r in rows] == pareto_front(
        [(r.batch_ms, r.mae[first]) for r in rows])
    assert any(r.front_one for r in rows)
    table = pareto_table(rows)
    assert table.count("\n") == len(rows) + 1 and "ONNX batch of 8 (ms)" in table
    pytest.importorskip("matplotlib")
    from pygkd.report.plots import pareto_plot

    figure = pareto_plot(rows, tmp_path)
    assert [f.name for f in figure["files"]] == ["pareto.png", "pareto.svg"]
    assert (tmp_path / "pareto.png").stat().st_size > 1000


def test_report_pareto_section_lists_the_rows(quickstart_run, tmp_path, monkeypatch):
    """The page's section is the table of :func:`pareto_rows` (timing replaced by fixed
    values here: the timing itself is tested above)."""
    from pygkd.report import pareto

    out, _ = quickstart_run
    fixed = {"teacher": (5.0, 50.0), "student-none": (1.0, 9.0), "student-stcd": (1.0, 8.0),
             "student-pruned": (0.5, 7.0)}
    monkeypatch.setattr(pareto, "onnx_latency",
                        lambda path, batch, repeats: fixed[Path(path).parent.name])
    text = write_report([out], tmp_path / "r.html", pareto=True, pareto_batch=8,
                        figures=False).read_text()
    section = text[text.index("Accuracy against serving latency"):text.index("<h2>Runs")]
    assert section.count("<tr>") == 5  # header + 4 configurations
    assert "student-pruned</td><td>" in section and "1 window, batch" in section
