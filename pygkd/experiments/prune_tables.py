"""The paper's pruning comparisons as one command each (Tables 7 and 8).

- **Table 7**: the teacher; the hand-designed student trained with ``L_STCD`` ("W/O pruning
  algorithm"); the teacher pruned by Algorithm 1 to the student's size ("W pruning algorithm").
- **Table 8**: the pruning base; Algorithm 1 (``L_STCD`` scores, "Pruned W L_STCD") against the
  Taylor baseline (task-loss scores, "Pruned W/O KD") at 25 / 50 / 75 % pruned.

Rows are mean ± std over seeds, with the persistence baseline first. Every run has its own
folder and is reused when the command is started again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from pygkd.experiments.distillation import run_distill
from pygkd.experiments.pruning import run_prune
from pygkd.experiments.results import Comparison, Row
from pygkd.experiments.statistics import paired_table
from pygkd.files import write_atomic
from pygkd.tables import mean_std_table
from pygkd.train.checkpoint import load_model
from pygkd.train.config import RunConfig, apply_overrides
from pygkd.train.runs import reuse_finished, run_evaluate, write_json

logger = logging.getLogger(__name__)

__all__ = ["run_table7", "run_table8"]


def _raw(recipe_dir: Path | None, name: str) -> dict[str, Any]:
    """The recipe ``<recipe_dir>/<name>.yaml`` (default: the installed recipes); a missing
    file is an error."""
    from pygkd.train.recipes import read_yaml, recipe_root

    folder = Path(recipe_dir) if recipe_dir is not None else recipe_root()
    return read_yaml(folder / f"{name}.yaml", f"--recipes: the {name!r} recipe")


def _cached(run_dir: Path, config: RunConfig, make: Callable[[], dict[str, Any]],
            label: str) -> dict[str, Any]:
    finished = reuse_finished(config, run_dir)
    if finished is not None:
        logger.info(f"{label}: done earlier, reusing {run_dir / 'metrics.json'}")
        return finished
    logger.info(f"{label} -> {run_dir}")
    return make()


def _rows_with_share(rows: list[Row], base_params: int) -> list[Row]:
    out = []
    for name, runs, summary in rows:
        if summary is not None:
            kept = int(summary.get("nonzero_parameters") or summary["parameters"])
            name = f"{name} ({100 * kept / base_params:.1f} % params)"
        out.append((name, runs, summary))
    return out


def _write(out_dir: Path, title: str, rows: list[Row], payload: dict[str, Any]) -> Comparison:
    table = mean_std_table(rows)
    text = title + "\n\n" + table + "\n"
    write_atomic(out_dir / "comparison.md", text)
    write_json(out_dir / "comparison.json", payload)
    return Comparison(rows, text, out_dir / "comparison.md", out_dir / "comparison.json")


def run_table7(teacher_path: Path, out_dir: Path, seeds: Sequence[int] = (0, 1, 2, 3, 4),
               recipe_dir: Path | None = None, mode: str = "structured",
               overrides: Sequence[str] = ()) -> Comparison:
    """Teacher vs hand-designed ``L_STCD`` student vs the teacher pruned by Algorithm 1 to the
    student's parameter count."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    teacher, _ = load_model(teacher_path)
    t_params = sum(p.numel() for p in teacher.parameters())
    students, pruned = [], []
    for seed in seeds:
        raw = apply_overrides(_raw(recipe_dir, "distill/stcd"),
                              overrides)
        raw["seed"] = seed
        cfg = RunConfig.from_dict(raw, "student recipe")
        run_dir = out_dir / "student-stcd" / f"seed{seed}"
        students.append(_cached(run_dir, cfg, partial(
            run_distill, cfg, teacher_path, run_dir, progress=False),
            f"student L_STCD seed {seed}"))
        s_params = students[-1]["model"]["parameters"]
        target = round(1.0 - s_params / t_params, 4)
        raw = apply_overrides(_raw(recipe_dir, "prune/kd-97"), overrides)
        raw["seed"] = seed
        raw.setdefault("prune", {}).update({"target": target, "mode": mode, "method": "kd"})
        pcfg = RunConfig.from_dict(raw, "pruning recipe")
        run_dir = out_dir / f"pruned-kd-{mode}" / f"seed{seed}"
        pruned.append(_cached(run_dir, pcfg, partial(
            run_prune, pcfg, teacher_path, teacher_path, run_dir, progress=False),
            f"teacher pruned to {1 - target:.1%} seed {seed}"))
    teacher_metrics = run_evaluate(teacher_path, latency_batch=students[0]["model"]["latency"]
                                   ["batch"])
    rows: list[Row] = [
        ("Persistence (last observed value)", [students[0]["persistence_test"]], None),
        ("Teacher", [teacher_metrics["test"]], teacher_metrics["model"]),
        ("Student W/O pruning algorithm (L_STCD)", [r["test"] for r in students],
         students[0]["model"]),
        (f"Student W pruning algorithm ({mode})", [r["test"] for r in pruned], pruned[0]["model"]),
    ]
    title = (f"Table 7 — test MAPE (%) / MAE / RMSE at 15 / 30 / 45 min, mean ± std over seeds "
             f"{list(seeds)}; teacher {teacher_path}. Latency: one forward pass on a batch of "
             f"{students[0]['model']['latency']['batch']}. Kept channels of each pruned model: "
             f"its channels.json.")
    paired = paired_table([("hand-designed student (L_STCD)", [r["test"] for r in students]),
                           (f"pruned by Algorithm 1 ({mode})", [r["test"] for r in pruned])],
                          "hand-designed student (L_STCD)")
    title += ("\n\nThe pruned student against the hand-designed one, seed by seed (test MAE; "
              "negative: pruning is better; * p < 0.05):\n\n" + paired)
    return _write(out_dir, title, _rows_with_share(rows, t_params), {
        "teacher": teacher_metrics, "students": students, "pruned": pruned})


def run_table8(base_path: Path, teacher_path: Path, out_dir: Path,
               targets: Sequence[float] = (0.25, 0.5, 0.75),
               seeds: Sequence[int] = (0, 1, 2, 3, 4),
               recipe_dir: Path | None = None, mode: str = "unstructured",
               overrides: Sequence[str] = ()) -> Comparison:
    """Algorithm 1 vs the Taylor baseline on the pruning base at several pruning levels."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base, _ = load_model(base_path)
    b_params = sum(p.numel() for p in base.parameters())
    results: dict[str, list[dict[str, Any]]] = {}
    for target in targets:
        level = round(100 * target)
        for method in ("taylor", "kd"):
            key = f"{method}-{level}"
            results[key] = []
            for seed in seeds:
                raw = apply_overrides(_raw(recipe_dir, f"prune/{key}"), overrides)
                raw["seed"] = seed
                raw.setdefault("prune", {}).update({"target": target, "mode": mode,
                                                    "method": method})
                cfg = RunConfig.from_dict(raw, f"{key} recipe")
                run_dir = out_dir / f"{key}-{mode}" / f"seed{seed}"
                results[key].append(_cached(run_dir, cfg, partial(
                    run_prune, cfg, base_path, teacher_path, run_dir, progress=False),
                    f"{key} seed {seed}"))
    first = next(iter(results.values()))[0]
    base_metrics = run_evaluate(base_path, latency_batch=first["model"]["latency"]["batch"])
    rows: list[Row] = [
        ("Persistence (last observed value)", [first["persistence_test"]], None),
        ("Base model", [base_metrics["test"]], base_metrics["model"]),
    ]
    for target in targets:
        level = round(100 * target)
        for method, label in (("taylor", "Pruned W/O KD"), ("kd", "Pruned W L_STCD")):
            runs = results[f"{method}-{level}"]
            rows.append((f"{label} {level} %", [r["test"] for r in runs], runs[0]["model"]))
    title = (f"Table 8 — Algorithm 1 vs the Taylor baseline ({mode}), test MAPE (%) / MAE / RMSE "
             f"at 15 / 30 / 45 min, mean ± std over seeds {list(seeds)}; base {base_path}.")
    paired = [paired_table([(f"Taylor {round(100 * t)} %", [r["test"] for r in
                                                             results[f"taylor-{round(100 * t)}"]]),
                            (f"L_STCD {round(100 * t)} %", [r["test"] for r in
                                                             results[f"kd-{round(100 * t)}"]])],
                           f"Taylor {round(100 * t)} %") for t in targets]
    title += ("\n\nAlgorithm 1 (L_STCD scores) against the Taylor baseline at each level, seed "
              "by seed (test MAE; negative: Algorithm 1 is better; * p < 0.05):\n\n"
              + "\n\n".join(paired))
    return _write(out_dir, title, _rows_with_share(rows, b_params), {
        "base": base_metrics, "runs": results})
