"""The paper's distillation comparison (Tables 2, 4 and 5) as one command.

For each seed and each loss, a student is distilled from the same frozen teacher with that
loss's recipe (``recipes/distill/<loss>.yaml`` when present); the table has the persistence
baseline, the teacher, the student W/O KD and one row per loss, MAPE / MAE / RMSE at
15 / 30 / 45 min as mean ± std over the seeds, with parameters and latency. Every run keeps its
own folder; a finished run is not repeated when the command is started again.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pygkd.distill.registry import PAPER_LOSSES, check_loss
from pygkd.errors import InputError
from pygkd.experiments.distillation import run_distill
from pygkd.experiments.results import Comparison
from pygkd.experiments.statistics import describe, paired_difference, paired_table
from pygkd.files import write_atomic
from pygkd.metrics import MAPE_MASK_NOTE
from pygkd.tables import mean_std_table
from pygkd.train.config import RunConfig, apply_overrides
from pygkd.train.runs import reuse_finished, run_evaluate, write_json

logger = logging.getLogger(__name__)

__all__ = ["run_distill_comparison"]



def loss_recipe(loss: str, recipe_dir: Path | None = None) -> dict[str, Any]:
    """The raw recipe ``<recipe_dir>/<loss>.yaml`` (default: the installed ``distill/``
    recipes, paper Table 6) with ``distill.loss`` set; a missing file is an error.

    A combination ``a+b`` without its own file takes the first part's recipe with the
    ``distill`` weights of every part (``a.yaml``, then ``b.yaml``'s keys not yet set)."""
    from pygkd.train.recipes import read_yaml, recipe_root

    folder = Path(recipe_dir) if recipe_dir is not None else recipe_root() / "distill"
    file = folder / f"{loss}.yaml"
    if "+" in loss and not file.is_file():
        parts = [loss_recipe(name, recipe_dir) for name in loss.split("+")]
        raw = parts[0]
        for part in parts[1:]:
            for key, value in part.get("distill", {}).items():
                raw["distill"].setdefault(key, value)
    else:
        raw = read_yaml(file, f"--recipes: the {loss!r} recipe")
    raw.setdefault("distill", {})["loss"] = loss
    return raw


def run_distill_comparison(
    teacher_path: Path, out_dir: Path, losses: Sequence[str] = PAPER_LOSSES,
    seeds: Sequence[int] = (0, 1, 2, 3, 4), recipe_dir: Path | None = None,
    overrides: Sequence[str] = (), progress: bool = False,
    students: Sequence[str] | None = None, own_train_settings: bool = False,
) -> Comparison:
    """Run every (seed, loss) student and write ``comparison.md`` / ``comparison.json``.

    ``students``: model families of the zoo to distil into, each ``name`` or ``name:hidden``
    (e.g. ``gconvgru:31``); every family runs every loss. Default: the recipes' STGCN
    student.

    Like for like: every loss trains with the W/O KD recipe's ``train`` settings (batch,
    epochs, lr, early stopping; after ``overrides``), whether or not ``none`` is one of the
    ``losses`` (so rows compared later with a W/O KD run of the same settings stay like for
    like; only a ``recipe_dir`` without ``none.yaml`` falls back to the first loss's), so
    the rows differ in the loss only;
    ``own_train_settings`` keeps each loss recipe's own. The table names any setting that
    differs between rows."""
    labels = {loss: check_loss(loss, "--losses").label for loss in losses}
    if not seeds:
        raise InputError("--seeds: expected at least one seed")
    families = [_student(s) for s in students] if students else [None]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = [(family, loss) for family in families for loss in losses]
    folder = Path(recipe_dir) if recipe_dir is not None else None
    has_control = "none" in losses or folder is None or (folder / "none.yaml").is_file()
    control = "none" if has_control else losses[0]  # whose train settings all share
    control_train = apply_overrides(copy.deepcopy(loss_recipe(control, recipe_dir)),
                                    overrides).get("train", {})
    if not own_train_settings:
        shown = ", ".join(f"{k} {control_train[k]}" for k in ("batch_size", "lr", "epochs",
                                                               "patience") if k in control_train)
        logger.info(f"every row trains with the {control!r} recipe's settings ({shown})"
                    + ("" if control == "none" else f"; {folder} has no none.yaml, so "
                       "these are not the W/O KD recipe's: add one to compare with W/O KD"))
    settings: dict[str, dict[str, Any]] = {}  # row label -> its train settings
    results: dict[tuple[Any, str], list[dict[str, Any]]] = {key: [] for key in keys}
    total, done = len(keys) * len(seeds), 0
    for seed in seeds:
        for family, loss in keys:
            done += 1
            name = loss if family is None else f"{family[0]} {loss}"
            run_dir = out_dir / loss / f"seed{seed}" if family is None else \
                out_dir / family[0] / loss / f"seed{seed}"
            raw = apply_overrides(copy.deepcopy(loss_recipe(loss, recipe_dir)), overrides)
            if not own_train_settings:
                raw["train"] = {**raw.get("train", {}), **control_train}
            raw["seed"] = seed
            if family is not None:
                model = raw.setdefault("model", {})
                model["name"] = family[0]
                if family[1] is not None:
                    model["hidden"] = family[1]
            config = RunConfig.from_dict(raw, f"{loss} recipe")
            settings[labels[loss] if family is None else
                     labels[loss].replace("Student", family[0])] = \
                dataclasses.asdict(config.train)
            finished = reuse_finished(config, run_dir)
            if finished is not None:
                logger.info(f"[{done}/{total}] {name} seed {seed}: done earlier, reusing "
                            f"{run_dir / 'metrics.json'}")
                results[(family, loss)].append(finished)
                continue
            logger.info(f"[{done}/{total}] {name} seed {seed} -> {run_dir}")
            results[(family, loss)].append(run_distill(config, teacher_path, run_dir,
                                                       progress=progress))
    first = results[keys[0]][0]
    teacher = run_evaluate(teacher_path, latency_batch=first["model"]["latency"]["batch"],
                           latency_repeats=first["model"]["latency"]["repeats"])
    rows = [("Persistence (last observed value)", [first["persistence_test"]], None),
            ("Teacher", [teacher["test"]], teacher["model"])]
    shares: dict[str, str] = {}
    for family, loss in keys:
        runs = results[(family, loss)]
        label = labels[loss] if family is None else labels[loss].replace("Student", family[0])
        rows.append((label, [r["test"] for r in runs], runs[0]["model"]))
        if "teacher_share" in runs[0]:
            shares[label] = f"{100 * runs[0]['teacher_share']:.2f} %"
    table = mean_std_table(rows, extra=shares)
    paired, paired_json = _paired_sections(keys, results, losses, seeds)
    if paired:
        table += "\n\n" + paired
    split = first["dataset"].get("split_days")
    split_text = "/".join(str(d) for d in split) + " days" if split else \
        "/".join(str(hi - lo) for lo, hi in first["dataset"].get("split_steps", [])) + " steps"
    horizons = " / ".join(first["test"])
    differing = _differing_settings(settings)
    header = (f"Test MAPE (%) / MAE / RMSE at {horizons}, mean ± std over seeds "
              f"{list(seeds)}; dataset {first['dataset']['name']} (split {split_text}); teacher "
              f"{teacher_path}. Latency: one forward pass on a batch of "
              f"{first['model']['latency']['batch']}. Teacher share: entries where L_ORD followed "
              f"the teacher (Table 3). {MAPE_MASK_NOTE} {differing}\n\n")
    write_atomic(out_dir / "comparison.md", header + table + "\n")
    write_json(out_dir / "comparison.json", {
        "teacher": teacher, "seeds": list(seeds),
        "runs": {(loss if family is None else f"{family[0]}/{loss}"):
                 [{k: r[k] for k in ("test", "val", "model", "best_epoch", "epochs_run")
                   if k in r} for r in results[(family, loss)]] for family, loss in keys},
        "paired": paired_json,
    })
    return Comparison(rows, header + table, out_dir / "comparison.md",
                      out_dir / "comparison.json")


def _differing_settings(settings: dict[str, dict[str, Any]]) -> str:
    """One sentence naming the training settings that differ between rows (or saying none
    does).

    Example:
        >>> _differing_settings({"W/O KD": {"batch_size": 50, "lr": 0.001},
        ...                      "L_SKD": {"batch_size": 16, "lr": 0.001}})
        'Settings that differ between rows: train.batch_size (W/O KD 50, L_SKD 16).'
    """
    rows = list(settings.items())
    keys = sorted({k for _, values in rows for k in values})
    parts = []
    for key in keys:
        values = [values.get(key) for _, values in rows]
        if any(v != values[0] for v in values):
            parts.append(f"train.{key} (" + ", ".join(
                f"{label} {value}" for (label, _), value in zip(rows, values, strict=True))
                + ")")
    if not parts:
        return "Every row trains with the same settings (batch, epochs, lr, early stopping)."
    return "Settings that differ between rows: " + "; ".join(parts) + "."


def _paired_sections(keys: list[tuple[Any, str]],
                     results: dict[tuple[Any, str], list[dict[str, Any]]],
                     losses: Sequence[str], seeds: Sequence[int]) -> tuple[str, dict[str, Any]]:
    """Per student family, every loss against its W/O KD control seed by seed (MAE): the
    markdown tables and their values. Empty without a ``none`` control."""
    if "none" not in losses or len(losses) < 2:
        return "", {}
    texts, values = [], {}
    for family in dict.fromkeys(f for f, _ in keys):
        name = "stgcn" if family is None else family[0]
        rows = [(check_loss(loss).label, [r["test"] for r in results[(family, loss)]])
                for f, loss in keys if f == family]
        control = check_loss("none").label
        texts.append(paired_table(rows, control))
        values[name] = {
            label: {h: describe(paired_difference(
                [r[h]["MAE"] for r in dict(rows)[control]], [r[h]["MAE"] for r in runs]))
                for h in runs[0]}
            for label, runs in rows if label != control}
    head = (f"Paired difference to W/O KD over seeds {list(seeds)} (test MAE; negative: the "
            "loss is better; 95 % confidence interval of the mean, seeds won, paired t-test "
            "p-value; * p < 0.05):")
    return head + "\n\n" + "\n\n".join(texts), values


def _student(spec: str) -> tuple[str, int | None]:
    """``gconvgru:31`` -> ``("gconvgru", 31)``; ``stgcn`` -> ``("stgcn", None)``."""
    from pygkd.nn.models.registry import MODELS

    name, _, hidden = str(spec).strip().lower().partition(":")
    if name not in MODELS:
        raise InputError(f"--students: unknown {name!r} (choose from: {', '.join(MODELS)})")
    try:
        return name, int(hidden) if hidden else None
    except ValueError:
        raise InputError(f"--students: expected NAME or NAME:HIDDEN like 'gconvgru:31' "
                         f"(got {spec!r})") from None
