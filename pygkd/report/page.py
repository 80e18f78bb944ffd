"""``pygkd report``: one self-contained HTML page from run folders.

A run folder is any folder holding ``metrics.json`` and ``model.pt`` (written by ``pygkd
train``, ``distill``, ``prune``); a comparison folder holds ``comparison.md`` and run folders
below it (``pygkd compare ...``, ``pygkd quickstart``). The page gathers every comparison
table, a table of all runs, the figures (training curves, forecast vs ground truth, t-SNE of
teacher vs students), every run's configuration and the environment. Figures are embedded
(base64 PNG) and also written beside the page as PNG and SVG.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pygkd.errors import InputError
from pygkd.files import read_json, write_atomic

logger = logging.getLogger(__name__)

__all__ = ["RunRecord", "find_runs", "find_tables", "group_label", "markdown_to_html",
           "representatives",
           "write_report"]



@dataclass
class RunRecord:
    """One finished run: its folder, a readable label and what it wrote."""

    path: Path
    label: str
    metrics: dict[str, Any]
    config_text: str

    @property
    def kind(self) -> str:
        if "prune" in self.metrics:
            return "prune"
        if "distill" in self.metrics:
            return "distill"
        return "train"

    @property
    def model_path(self) -> Path:
        return self.path / "model.pt"

    @property
    def teacher(self) -> str | None:
        return (self.metrics.get("distill") or {}).get("teacher")


def _label(path: Path, roots: Sequence[Path]) -> str:
    for root in roots:
        try:
            rel = path.resolve().relative_to(root.resolve().parent)
            return rel.as_posix()
        except ValueError:
            continue
    return path.as_posix()


def find_runs(roots: Sequence[Path]) -> list[RunRecord]:
    """Every run folder (``metrics.json`` + ``model.pt``) at or below ``roots``, in path order."""
    seen, out = set(), []
    for root in roots:
        for metrics_file in sorted(Path(root).rglob("metrics.json")):
            folder = metrics_file.parent
            key = folder.resolve()
            if key in seen or not (folder / "model.pt").is_file():
                continue
            seen.add(key)
            config = folder / "config.yaml"
            out.append(RunRecord(folder, _label(folder, roots),
                                 read_json(metrics_file, "run metrics"),
                                 config.read_text() if config.is_file() else ""))
    return out


def find_tables(roots: Sequence[Path]) -> list[tuple[str, str]]:
    """``(label, markdown)`` of every ``comparison.md`` at or below ``roots``."""
    out, seen = [], set()
    for root in roots:
        for file in sorted(Path(root).rglob("comparison.md")):
            if file.resolve() not in seen:
                seen.add(file.resolve())
                out.append((_label(file.parent, roots), file.read_text()))
    return out


_SEED = re.compile(r"^seed(\d+)$")


def representatives(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """One run per configuration: of the folders ``.../<name>/seed<k>``, the lowest seed."""
    best: dict[str, tuple[int, RunRecord]] = {}
    order: list[str] = []
    for run in runs:
        match = _SEED.match(run.path.name)
        key = str(run.path.parent) if match else str(run.path)
        seed = int(match.group(1)) if match else -1
        if key not in best:
            order.append(key)
        if key not in best or seed < best[key][0]:
            best[key] = (seed, run)
    return [best[k][1] for k in order]


def group_label(run: RunRecord) -> str:
    """Label without the seed folder: ``compare-distill/stcd/seed0`` -> ``compare-distill/stcd``."""
    return run.label.rsplit("/", 1)[0] if _SEED.match(run.path.name) else run.label


def _resolve_teacher(runs: Sequence[RunRecord], explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not Path(explicit).is_file():
            raise InputError(f"--teacher: no such checkpoint {explicit}")
        return Path(explicit)
    named = Counter(r.teacher for r in runs if r.teacher)
    for name, _ in named.most_common():
        candidate = Path(name)
        if candidate.is_file():
            return candidate
        tail = candidate.parts[-2:]
        for run in runs:
            if run.model_path.parts[-2:] == tail:
                return run.model_path
    for run in runs:
        if run.kind == "train" and "teacher" in run.label:
            return run.model_path
    return None


# --------------------------------------------------------------------------------- figures


def _figures(runs: list[RunRecord], teacher_path: Path | None, fig_dir: Path,
             sensor: int | None, step: int, samples: int, seed: int) -> list[dict[str, Any]]:
    from pygkd.report import plots

    figures: list[dict[str, Any]] = []
    reps = representatives(runs)
    histories = {group_label(r): r.metrics["history"] for r in reps if r.metrics.get("history")}
    if histories:
        figures.append(plots.curves_plot(histories, fig_dir))
    if teacher_path is None:
        logger.info("no teacher found: forecast and t-SNE figures left out (give --teacher)")
        return figures
    teacher, dataset = plots.load_teacher(teacher_path)
    students = plots.load_students(
        [(group_label(r), r.model_path) for r in reps
         if r.model_path.resolve() != teacher_path.resolve()], dataset)
    figures.append(plots.forecast_plot(teacher, students, dataset, fig_dir, sensor, step))
    if students:
        figures.append(plots.tsne_plot(teacher, students, dataset, fig_dir, samples, seed))
    return figures


def _tuning_figures(roots: Sequence[Path], fig_dir: Path) -> list[dict[str, Any]]:
    """One figure per ``pygkd tune`` study (``tuning.json``) at or below ``roots``."""
    from pygkd.report import plots

    files = sorted({f.resolve() for root in roots for f in Path(root).rglob("tuning.json")})
    return [plots.tuning_plot(read_json(f, "tuning summary"), fig_dir,
                              stem=f"tuning-{k}" if len(files) > 1 else "tuning")
            for k, f in enumerate(files)]


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


# ------------------------------------------------------------------------------------ HTML


def markdown_to_html(text: str) -> str:
    """The subset of markdown our tables use: paragraphs and pipe tables.

    Example:
        >>> print(markdown_to_html("Title\\n\\n| a | b |\\n|---|---:|\\n| 1 | 2 |"))
        <p>Title</p>
        <table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody></table>
    """
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [ln for ln in block.splitlines() if ln.strip()]
        if lines and all(ln.strip().startswith("|") for ln in lines):
            cells = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
            body = [row for row in cells[1:] if not all(set(c) <= set("-:") for c in row)]
            head = "".join(f"<th>{html.escape(c)}</th>" for c in cells[0])
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                           for row in body)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            out.append(f"<p>{html.escape(' '.join(lines))}</p>")
    return "\n".join(out)


def _runs_table(runs: Sequence[RunRecord]) -> str:
    from pygkd.tables import horizons_of

    horizons = horizons_of([run.metrics.get("test", {}) for run in runs])
    head = ["Run", "Kind", "Params", "Nonzero", *[f"MAE {h}" for h in horizons],
            "Best epoch", "Train s"]
    rows = []
    for run in runs:
        m, model = run.metrics, run.metrics.get("model", {})
        mae = [m.get("test", {}).get(h, {}).get("MAE") for h in horizons]
        rows.append([run.label, run.kind, f"{model.get('parameters', 0):,}",
                     f"{model.get('nonzero_parameters', model.get('parameters', 0)):,}",
                     *[f"{v:.3f}" if v is not None else "-" for v in mae],
                     str(m.get("best_epoch", "-")), f"{m.get('train_seconds', 0):.0f}"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return markdown_to_html("\n".join(lines))


STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;
padding:3px 6px;text-align:right}td:first-child,th:first-child{text-align:left}
img{max-width:100%}pre{background:#f6f6f6;padding:.6em;font-size:12px;overflow:auto}
figcaption{font-size:13px;color:#444}"""


def write_report(run_dirs: Sequence[Path], out: Path | None = None,
                 teacher: Path | None = None, sensor: int | None = None, step: int = 3,
                 samples: int = 50, seed: int = 0, figures: bool = True,
                 pareto: bool = False, pareto_batch: int = 1140) -> Path:
    """Write the report page for ``run_dirs``; returns its path.

    Args:
        run_dirs: run or comparison folders.
        out (Path, optional): the HTML file (default: ``<first run_dir>/report/index.html``);
            figures go to ``figures/`` beside it.
        teacher (Path, optional): teacher checkpoint for the forecast and t-SNE figures
            (default: the teacher the distilled runs name).
        sensor (int, optional): sensor of the forecast figure (default: the busiest one).
        step (int): forecast horizon in steps for that figure (default: 3 = 15 min).
        samples (int): test windows in the t-SNE (default: 50, as the paper).
        pareto (bool): add accuracy against ONNX Runtime latency (one window and
            ``pareto_batch`` windows) for every configuration and the teacher: a table and a
            figure (:mod:`pygkd.report.pareto`; the ``export`` extra).
    """
    roots = [Path(d) for d in run_dirs]
    missing = [str(d) for d in roots if not d.is_dir()]
    if missing:
        raise InputError(f"RUN_DIR: no such folder(s): {', '.join(missing)}")
    runs, tables = find_runs(roots), find_tables(roots)
    if not runs and not tables:
        raise InputError(f"RUN_DIR: found no metrics.json or comparison.md under "
                         f"{', '.join(map(str, roots))}")
    out = Path(out) if out is not None else roots[0] / "report" / "index.html"
    from pygkd.files import ensure_writable

    ensure_writable(out, "--out")
    teacher_path = _resolve_teacher(runs, teacher)
    figs = _figures(runs, teacher_path, out.parent / "figures", sensor, step, samples,
                    seed) if figures else []
    if figures:
        figs += _tuning_figures(roots, out.parent / "figures")
    pareto_html = ""
    if pareto:
        from pygkd.report.pareto import pareto_rows, pareto_table

        pool = list(runs)
        if teacher_path is not None and (teacher_path.parent / "metrics.json").is_file() and \
                all(r.model_path.resolve() != teacher_path.resolve() for r in runs):
            pool += find_runs([teacher_path.parent])
        rows, left_out = pareto_rows(pool, pareto_batch)
        pareto_html = markdown_to_html(pareto_table(rows)) + "".join(
            f"<p>Left out: {html.escape(reason)}</p>" for reason in left_out)
        if rows and figures:
            from pygkd.report import plots

            figs.insert(0, plots.pareto_plot(rows, out.parent / "figures"))

    from pygkd.report.environment import environment_info

    parts = [f"<h1>pygkd report</h1><p>Written {_dt.datetime.now():%Y-%m-%d %H:%M} from "
             f"{html.escape(', '.join(map(str, roots)))}"
             + (f"; teacher {html.escape(str(teacher_path))}" if teacher_path else "") + ".</p>"]
    if tables:
        parts.append("<h2>Comparisons</h2>")
        for label, text in tables:
            parts.append(f"<h3>{html.escape(label)}</h3>{markdown_to_html(text)}")
    if pareto_html:
        parts.append("<h2>Accuracy against serving latency</h2><p>ONNX Runtime, "
                     f"{_torch_threads()} thread(s), median of repeated runs; test MAE averaged "
                     "over each configuration's seeds.</p>" + pareto_html)
    if runs:
        parts.append(f"<h2>Runs ({len(runs)})</h2>{_runs_table(runs)}")
    if figs:
        parts.append("<h2>Figures</h2>")
        for fig in figs:
            png = next(f for f in fig["files"] if f.suffix == ".png")
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            links = ", ".join(f'<a href="{f.relative_to(out.parent).as_posix()}">{f.suffix[1:]}'
                              "</a>" for f in fig["files"])
            parts.append(f"<figure><h3>{html.escape(fig['title'])}</h3>"
                         f'<img alt="{html.escape(fig["title"])}" src="data:image/png;base64,'
                         f'{data}"><figcaption>{html.escape(fig["caption"])} Files: {links}.'
                         "</figcaption></figure>")
    if runs:
        parts.append("<h2>Configurations</h2>")
        for run in runs:
            parts.append(f"<details><summary>{html.escape(run.label)}</summary><pre>"
                         f"{html.escape(run.config_text or '(no config.yaml)')}</pre></details>")
    env = environment_info()
    parts.append("<h2>Environment</h2>" + markdown_to_html(
        "| Item | Value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in env.items())))
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>pygkd report</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
    write_atomic(out, page)
    return out
