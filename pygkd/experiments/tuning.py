"""Tune a distillation loss's hyper-parameters on the validation split only.

Random search: each trial distils a student with alphas drawn uniformly from ``[0, 1]`` (the
ones the loss uses), and trials are ranked by the best validation MAE (mean over the forecast
steps); the test split is never looked at. The best trial's recipe is written as
``best.yaml``, ready for ``pygkd compare distill --recipes``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pygkd.distill.registry import LOSSES
from pygkd.errors import InputError
from pygkd.experiments.distill_tables import loss_recipe
from pygkd.experiments.distillation import run_distill
from pygkd.experiments.results import Tuning
from pygkd.files import write_atomic
from pygkd.train.config import RunConfig, apply_overrides
from pygkd.train.runs import reuse_finished, write_json

logger = logging.getLogger(__name__)

__all__ = ["TUNED", "run_tuning"]

#: The hyper-parameters searched per loss (from the loss registry).
TUNED: dict[str, Sequence[str]] = {name: spec.tuned for name, spec in LOSSES.items()
                                   if spec.tuned}


def run_tuning(teacher_path: Path, loss: str, out_dir: Path, trials: int = 8, seed: int = 0,
               recipe_dir: Path | None = None, overrides: Sequence[str] = ()) -> Tuning:
    """Run the search; return the trials and the best (also in ``tuning.json``)."""
    if loss not in TUNED:
        raise InputError(f"--loss: nothing to tune for {loss!r} "
                         f"(choose from: {', '.join(TUNED)})")
    if trials < 1:
        raise InputError(f"--trials: expected at least 1 (got {trials})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = apply_overrides(copy.deepcopy(loss_recipe(loss, recipe_dir)), overrides)
    base["seed"] = seed
    results: list[dict[str, Any]] = []
    for k in range(trials):
        values = {name: round(float(rng.uniform(0.0, 1.0)), 3) for name in TUNED[loss]}
        raw = copy.deepcopy(base)
        raw.setdefault("distill", {}).update(values)
        run_dir = out_dir / f"trial{k:02d}"
        config = RunConfig.from_dict(raw, f"{loss} trial {k}")
        finished = reuse_finished(config, run_dir)
        if finished is not None:
            metrics = finished
        else:
            logger.info(f"[{k + 1}/{trials}] {loss} {values}")
            metrics = run_distill(config, teacher_path, run_dir, progress=False)
        results.append({"trial": k, **values, "val_mae": metrics["best_val_mae"]})
        logger.info(f"    validation MAE {metrics['best_val_mae']:.4f}")
    best = min(results, key=lambda r: r["val_mae"])
    recipe = copy.deepcopy(base)
    recipe.pop("seed", None)
    recipe.setdefault("distill", {}).update({n: best[n] for n in TUNED[loss]})
    write_atomic(out_dir / "best.yaml",
        f"# tuned on the validation split: trial {best['trial']}, val MAE {best['val_mae']:.4f}\n"
        + yaml.safe_dump(recipe, sort_keys=False))
    write_json(out_dir / "tuning.json", {"loss": loss, "best": best, "trials": results})
    return Tuning(loss, best, results, out_dir / "best.yaml")
