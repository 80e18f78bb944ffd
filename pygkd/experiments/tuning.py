"""Tune distillation losses on the validation split only: an Optuna study.

Each trial distils a student with hyper-parameters proposed by Optuna's TPE sampler: the
weights the loss reads (its registry entry's ``tuned`` names: alphas and betas in ``[0, 1]``,
temperatures ``tau`` in ``[0.5, 8]`` on a log scale), optionally the learning rate and the
batch size (a choice among given sizes), and, when
several losses are given (``["skd", "stcd", "skd+tcd"]``), which loss or combination. A trial
is scored by its best validation MAE (mean over the forecast steps); it reports its validation
MAE after every epoch, and the median pruner stops a trial whose curve is worse than the
median of earlier trials at the same epoch. With several ``seeds`` every trial trains once per
seed and is scored by the mean of their best validation MAEs (weights that suit one seed's
validation curve need not suit another's: on Los-loop, weights tuned on seed 0 were no better
than the paper's on the test day); the seeds' curves are reported one after the other. A trial
that draws the values of a finished one (likely with a choice such as the batch size) reuses
its result: every trial trains with the same seeds, so the same values train the same
students. The test split is never looked at.

The study lives in an Optuna storage (default ``sqlite:///OUT/study.db``; any Optuna RDB URL),
under a study name fixed per teacher and losses, so a rerun adds trials to it, and several
processes or machines given the same ``storage`` add trials to one study. Every trial trains
in ``OUT/trial<number>``; a trial interrupted mid-way is failed by the next process after a
grace period and retried once from its folder's ``last.pt``. The best trial's recipe is
written as ``best.yaml`` (ready for ``pygkd compare distill --recipes`` or ``pygkd distill
--recipe``), every trial in ``tuning.json``, and the optimisation history and parameter
importances as ``tuning.png`` / ``tuning.svg``.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import hashlib
import logging
import os
import random
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pygkd.compat import require_extra
from pygkd.distill.registry import check_loss
from pygkd.errors import InputError
from pygkd.experiments.distill_tables import loss_recipe
from pygkd.experiments.distillation import run_distill
from pygkd.experiments.results import Tuning
from pygkd.files import write_atomic
from pygkd.runtime.memory import release_freed_memory
from pygkd.train.config import RunConfig, apply_overrides
from pygkd.train.runs import write_json

logger = logging.getLogger(__name__)

__all__ = ["SEARCH_RANGES", "SEARCHED_SWITCHES", "LR_RANGE", "MIXUP_RANGE", "TrialReporter",
           "tuned_names", "default_study_name", "run_tuning"]

#: name -> (low, high, log scale) of a searched hyper-parameter; others are in ``[0, 1]``.
SEARCH_RANGES: dict[str, tuple[float, float, bool]] = {"tau": (0.5, 8.0, True)}
#: Switches searched as a choice of both values when the loss reads them.
SEARCHED_SWITCHES = ("normalize_features",)
#: The learning-rate range searched with ``tune_lr`` (log scale).
LR_RANGE = (1e-4, 1e-2)
#: The range of ``distill.mixup`` (function matching) searched with ``tune_mixup``.
MIXUP_RANGE = (0.0, 0.8)
#: Trials that are never pruned (the median needs some finished curves first), and epochs
#: every trial runs before it can be pruned: at least this many, and at least a quarter of the
#: recipe's epochs (early validation errors swing too much to judge a trial by).
PRUNER_STARTUP_TRIALS, PRUNER_WARMUP_EPOCHS = 3, 3
#: Seconds between a running trial's heartbeats, and after which a silent one is failed.
HEARTBEAT_SECONDS, GRACE_SECONDS = 60, 180
#: Attempts at opening a storage that other processes are creating at the same moment.
RACE_ATTEMPTS = 8


def tuned_names(loss: str) -> tuple[str, ...]:
    """The ``distill`` keys a study searches for ``loss`` (a name or ``a+b`` combination): its
    registry entry's ``tuned`` weights, then the switches of :data:`SEARCHED_SWITCHES` it reads.

    Example:
        >>> tuned_names("stcd"), tuned_names("skd")
        (('alpha1', 'alpha2', 'alpha3', 'normalize_features'), ('alpha',))
    """
    spec = check_loss(loss, "tune")
    return spec.tuned + tuple(n for n in SEARCHED_SWITCHES if n in spec.hyperparameters)


def default_study_name(teacher_path: Path, losses: Sequence[str],
                       seeds: Sequence[int] = ()) -> str:
    """``pygkd-<losses>-<first 12 hex digits of the teacher file's SHA-256>``: the same
    teacher and losses always name the same study (whatever the file's path); trials scored
    over several ``seeds`` form another study (``-seeds0,1,2`` appended).

    Example:
        >>> p = Path(getfixture("tmp_path")) / "t.pt"; _ = p.write_bytes(b"weights")
        >>> default_study_name(p, ["stcd", "skd"])
        'pygkd-stcd,skd-9a129038d9a0'
        >>> default_study_name(p, ["tcd"], seeds=[0, 1, 2])
        'pygkd-tcd-9a129038d9a0-seeds0,1,2'
    """
    digest = hashlib.sha256(Path(teacher_path).read_bytes()).hexdigest()[:12]
    suffix = f"-seeds{','.join(str(s) for s in seeds)}" if len(seeds) > 1 else ""
    return f"pygkd-{','.join(losses)}-{digest}{suffix}"


class TrialReporter:
    """Trainer callback: report each epoch's validation MAE to the trial; stop it (by raising
    ``optuna.TrialPruned``) when the pruner says its curve is worse than the median's.

    ``offset`` shifts the reported step (the ``k``-th seed of a trial reports at
    ``k * epochs + epoch``, so every trial's step means the same seed and epoch); no pruning
    before epoch ``warmup`` of each run (the pruner's own warm-up counts steps, and only the
    first seed's steps start at 0).
    """

    def __init__(self, trial: Any, offset: int = 0, warmup: int = 0) -> None:
        self.trial, self.offset, self.warmup = trial, offset, warmup

    def after_epoch(self, epoch: int, val_mae: float) -> None:
        import optuna

        self.trial.report(val_mae, self.offset + epoch)
        if epoch >= self.warmup and self.trial.should_prune():
            raise optuna.TrialPruned(f"validation MAE {val_mae:.4f} at epoch {epoch} is worse "
                                     "than the median of earlier trials")


def _suggest(trial: Any, names: Sequence[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in names:
        if name in SEARCHED_SWITCHES:
            values[name] = trial.suggest_categorical(name, [False, True])
            continue
        low, high, log = SEARCH_RANGES.get(name, (0.0, 1.0, False))
        values[name] = trial.suggest_float(name, low, high, log=log)
    return values


def _retry_callback() -> Any:
    """Optuna's callback that retries a trial whose process stopped (its heartbeat went
    stale) once with the same parameters."""
    from optuna import storages

    kind = getattr(storages, "RetryHeartbeatStaleTrialCallback", None) \
        or storages.RetryFailedTrialCallback
    return kind(max_retry=1)


def _open_study(storage: str, study_name: str, sampler: Any, pruner: Any) -> Any:
    import optuna
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    retry = _retry_callback()
    stale = ("heartbeat_stale_trial_callback" if retry.__class__.__name__.startswith("RetryHeart")
             else "failed_trial_callback")  # renamed in Optuna 4.9
    for attempt in range(RACE_ATTEMPTS):
        try:  # processes that start together race to create the tables and the study
            rdb = RDBStorage(storage, heartbeat_interval=HEARTBEAT_SECONDS,
                             grace_period=GRACE_SECONDS, **{stale: retry})
            return optuna.create_study(storage=rdb, study_name=study_name, sampler=sampler,
                                       pruner=pruner, direction="minimize",
                                       load_if_exists=True)
        except (DBAPIError, optuna.exceptions.DuplicatedStudyError) as err:
            if attempt == RACE_ATTEMPTS - 1:
                raise InputError(f"--storage {storage}: could not open the study "
                                 f"({type(err).__name__}: {str(err).splitlines()[0]})") from None
            time.sleep(0.2 + random.random() * (attempt + 1))
        except (ValueError, ImportError, SQLAlchemyError) as err:
            raise InputError(f"--storage {storage}: not a usable Optuna storage "
                             f"({type(err).__name__}: {str(err).splitlines()[0]}); expected an "
                             "RDB URL like sqlite:///study.db") from None
    raise AssertionError("unreachable")


def run_tuning(teacher_path: Path, loss: str | Sequence[str], out_dir: Path, trials: int = 8,
               seed: int = 0, recipe_dir: Path | None = None, overrides: Sequence[str] = (),
               storage: str | None = None, study_name: str | None = None,
               timeout: float | None = None, tune_lr: bool = False,
               batch_sizes: Sequence[int] | None = None,
               seeds: Sequence[int] | None = None, tune_mixup: bool = False) -> Tuning:
    """Add ``trials`` trials (or as many as fit in ``timeout`` seconds) to the study of
    ``loss`` (one name, ``a+b``, or several to choose among) and write its best recipe.

    Args:
        teacher_path: the teacher checkpoint (its data and split are used).
        loss: the loss(es) searched; the loss is itself a searched choice when several.
        out_dir: trial folders, ``best.yaml``, ``tuning.json`` and the figure.
        trials: trials this call adds (the study may hold more: earlier runs, other
            processes).
        seed: seeds every trial's training unless ``seeds`` is given (the same for all, so
            trials differ by their hyper-parameters only) and the sampler (mixed with the
            process id when ``storage`` is shared, so that processes propose different
            trials).
        storage: an Optuna RDB URL (default ``sqlite:///<out_dir>/study.db``).
        study_name: default :func:`default_study_name`; an existing study is loaded.
        timeout: stop adding trials after this many seconds.
        tune_lr: search ``train.lr`` too (log scale in :data:`LR_RANGE`). The comparisons
            train every loss with the W/O KD control's settings, so tune the control's
            learning rate the same way (``loss="none"``).
        batch_sizes: search ``train.batch_size`` too, as a choice among these sizes (the
            control's batch decides how far behind the teacher W/O KD stays: tune it the
            same way, ``loss="none"``, and give every row the chosen one).
        seeds: train every trial once per seed (folders ``trial<k>/seed<s>``) and score it
            by the mean best validation MAE; several seeds make their own study (see
            :func:`default_study_name`).
        tune_mixup: search ``distill.mixup`` too (function matching on mixed windows, in
            :data:`MIXUP_RANGE`) for the losses that use a teacher; such trials train up to
            about 2.5x longer.

    Returns:
        The study's trials (all of them, of every process) and its best; ``Tuning.recipe`` is
        ``out_dir / "best.yaml"``.
    """
    optuna = require_extra("optuna", "tune", "Tuning studies")
    losses = [loss] if isinstance(loss, str) else list(loss)
    if not losses:
        raise InputError("--loss: give at least one loss to tune")
    batch_sizes = _check_batch_sizes(batch_sizes)
    train_seeds = _check_seeds(seeds) if seeds is not None else [seed]
    for name in losses:
        if not tuned_names(name) and not tune_lr and not batch_sizes and not (
                tune_mixup and check_loss(name, "tune").uses_teacher):
            raise InputError(f"--loss: nothing to tune for {name!r} (it has no weights; "
                             "add --tune-lr or --batch-sizes to search its training)")
    if trials < 1:
        raise InputError(f"--trials: expected at least 1 (got {trials})")
    if timeout is not None and timeout <= 0:
        raise InputError(f"--timeout: expected a positive number of seconds (got {timeout})")
    teacher_path = Path(teacher_path)
    if not teacher_path.is_file():
        raise InputError(f"--teacher {teacher_path}: no such checkpoint file")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bases = {name: apply_overrides(copy.deepcopy(loss_recipe(name, recipe_dir)), overrides)
             for name in losses}
    epochs = []
    for name, base in bases.items():
        base["seed"] = seed  # a bad recipe fails now
        epochs.append(RunConfig.from_dict(copy.deepcopy(base), f"{name} recipe").train.epochs)
    shared = storage is not None
    storage = storage or f"sqlite:///{(out_dir / 'study.db').resolve()}"
    study_name = study_name or default_study_name(teacher_path, losses, train_seeds)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warmup = max(PRUNER_WARMUP_EPOCHS, max(epochs) // 4)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS,
                                         n_warmup_steps=warmup)
    probe = _open_study(storage, study_name, None, pruner)
    entropy = [seed, len(probe.trials)] + ([os.getpid()] if shared else [])
    sampler_seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
    sampler = optuna.samplers.TPESampler(seed=sampler_seed,
                                         n_startup_trials=min(10, max(3, trials // 3)))
    study = _open_study(storage, study_name, sampler, pruner)
    logger.info(f"study {study_name!r} in {storage}: {len(study.trials)} trial(s) so far"
                + (f"; every trial trains seeds {train_seeds}" if len(train_seeds) > 1 else ""))

    def objective(trial: Any) -> float:
        name = trial.suggest_categorical("loss", losses) if len(losses) > 1 else losses[0]
        values = _suggest(trial, tuned_names(name))
        raw = copy.deepcopy(bases[name])
        raw.setdefault("distill", {}).update(values)
        if tune_mixup and check_loss(name, "tune").uses_teacher:
            raw["distill"]["mixup"] = trial.suggest_float("mixup", *MIXUP_RANGE)
        if tune_lr:
            raw.setdefault("train", {})["lr"] = trial.suggest_float("lr", *LR_RANGE, log=True)
        if batch_sizes:
            raw.setdefault("train", {})["batch_size"] = trial.suggest_categorical(
                "batch_size", batch_sizes)
        frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
        retried = type(_retry_callback()).retried_trial_number(frozen)
        number = trial.number if retried is None else retried
        run_dir = out_dir / f"trial{number:03d}"
        trial.set_user_attr("run_dir", str(run_dir))
        config = RunConfig.from_dict(raw, f"{name} trial {trial.number}")
        shown = ", ".join(f"{k}={v}" if isinstance(v, bool) else f"{k}={v:.3g}"
                          for k, v in trial.params.items() if k != "loss")
        logger.info(f"trial {trial.number}: {name} {shown}")
        same = _finished_twin(study, trial)
        if same is not None:  # every trial trains the same seeds: same settings, same students
            logger.info(f"    the settings of trial {same.number}: its result reused "
                        f"(validation MAE {same.value:.4f}), nothing trained")
            for key in ("best_epoch", "epochs_run", "run_dir", "seed_val_mae"):
                if key in same.user_attrs:
                    trial.set_user_attr(key, same.user_attrs[key])
            trial.set_user_attr("same_as", same.number)
            return float(same.value)
        runs = []
        for k, train_seed in enumerate(train_seeds):
            seed_dir = run_dir / f"seed{train_seed}" if len(train_seeds) > 1 else run_dir
            reporter = TrialReporter(trial, offset=k * config.train.epochs, warmup=warmup)
            runs.append(_train_trial(dataclasses.replace(config, seed=train_seed),
                                     teacher_path, seed_dir, retried is None, reporter))
        one = len(runs) == 1
        trial.set_user_attr("best_epoch", runs[0]["best_epoch"] if one
                            else [m["best_epoch"] for m in runs])
        trial.set_user_attr("epochs_run", runs[0]["epochs_run"] if one
                            else [m["epochs_run"] for m in runs])
        value = float(np.mean([m["best_val_mae"] for m in runs]))
        if not one:
            trial.set_user_attr("seed_val_mae", [float(m["best_val_mae"]) for m in runs])
        logger.info(f"    validation MAE {value:.4f}"
                    + ("" if one else " (mean of seeds: "
                       + ", ".join(f"{m['best_val_mae']:.4f}" for m in runs) + ")"))
        return value

    study.optimize(objective, n_trials=trials, timeout=timeout, catch=())
    return _write_results(study, bases, out_dir)


def _train_trial(config: RunConfig, teacher_path: Path, run_dir: Path, fresh: bool,
                 reporter: TrialReporter) -> dict[str, Any]:
    """One run of a trial (``metrics.json``'s contents); ``optuna.TrialPruned`` when the
    pruner stops it, raised only after its memory is freed."""
    import optuna

    pruned = None
    try:
        return run_distill(config, teacher_path, run_dir, fresh=fresh, progress=False,
                           callbacks=[reporter])
    except optuna.TrialPruned as stop:
        pruned = str(stop)
    finally:
        gc.collect()  # the run's student, teacher and teacher cache (GBs) go now
        release_freed_memory()  # and back to the system (the heap keeps freed blocks)
    # raised here, not in the handler: Optuna keeps the error, and its traceback would keep
    # the cache
    logger.info(f"    pruned: {pruned}")
    raise optuna.TrialPruned(pruned)


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    """The training seeds of every trial: non-negative whole numbers, each once."""
    chosen: list[int] = []
    for value in seeds:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(f"--seeds: expected non-negative whole numbers (got {value!r})")
        if int(value) in chosen:
            raise InputError(f"--seeds: seed {value} is given twice (every trial trains each "
                             "seed once)")
        chosen.append(int(value))
    if not chosen:
        raise InputError("--seeds: give at least one seed")
    return chosen


def _finished_twin(study: Any, trial: Any) -> Any:
    """The earliest finished trial whose searched values equal ``trial``'s, or None (a
    categorical search such as ``--batch-sizes`` draws the same values again)."""
    import optuna

    for other in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if other.number != trial.number and other.params == trial.params:
            return other
    return None


def _check_batch_sizes(sizes: Sequence[int] | None) -> list[int]:
    """Distinct positive batch sizes in the given order (``[]`` for none)."""
    chosen: list[int] = []
    for size in sizes or ():
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise InputError(f"--batch-sizes: expected positive whole numbers (got {size!r})")
        if int(size) not in chosen:
            chosen.append(int(size))
    if len(chosen) == 1:
        raise InputError(f"--batch-sizes: give at least two sizes to choose among (got "
                         f"{chosen[0]}; a single size is --set train.batch_size={chosen[0]})")
    return chosen


def _trial_row(trial: Any) -> dict[str, Any]:
    return {"trial": trial.number, "state": trial.state.name, **trial.params,
            "val_mae": trial.value, "best_epoch": trial.user_attrs.get("best_epoch"),
            "epochs_run": trial.user_attrs.get("epochs_run"),
            "same_as": trial.user_attrs.get("same_as"),
            **({"seed_val_mae": trial.user_attrs["seed_val_mae"]}
               if "seed_val_mae" in trial.user_attrs else {})}


def _importances(study: Any) -> dict[str, float]:
    """Each searched parameter's importance (Optuna's default evaluator), ``{}`` while the
    study has too few finished trials or nothing varied."""
    import optuna

    try:
        with warnings.catch_warnings():  # "less than 2 trials in a regime" on small studies
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study)
        return {k: round(float(v), 4) for k, v in found.items()}
    except (ValueError, RuntimeError, ZeroDivisionError) as err:
        logger.info(f"parameter importances left out ({err})")
        return {}


#: Searched names that are training settings (written to the recipe's ``train``).
TRAIN_PARAMS = ("lr", "batch_size")


def _write_results(study: Any, bases: dict[str, dict[str, Any]], out_dir: Path) -> Tuning:
    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    rows = [_trial_row(t) for t in study.get_trials(deepcopy=False)]
    if not done:
        raise InputError(f"study {study.study_name!r}: no trial has finished yet")
    best_trial = study.best_trial
    best = _trial_row(best_trial)
    name = best_trial.params.get("loss", next(iter(bases)))
    recipe = copy.deepcopy(bases[name])
    recipe.pop("seed", None)
    recipe.setdefault("distill", {}).update(
        {k: v if isinstance(v, bool) else float(f"{v:.4g}")
         for k, v in best_trial.params.items() if k not in ("loss", *TRAIN_PARAMS)})
    if "lr" in best_trial.params:
        recipe.setdefault("train", {})["lr"] = float(f"{best_trial.params['lr']:.3g}")
    if "batch_size" in best_trial.params:
        recipe.setdefault("train", {})["batch_size"] = int(best_trial.params["batch_size"])
    pruned = sum(r["state"] == "PRUNED" for r in rows)
    write_atomic(out_dir / "best.yaml",
        f"# tuned on the validation split: study {study.study_name}, trial "
        f"{best['trial']} of {len(rows)} ({pruned} pruned), val MAE {best['val_mae']:.4f}\n"
        + yaml.safe_dump(recipe, sort_keys=False))
    summary = {"study": study.study_name, "losses": list(bases), "best": best,
               "importances": _importances(study), "trials": rows}
    write_json(out_dir / "tuning.json", summary)
    try:
        from pygkd.report.plots import tuning_plot

        tuning_plot(summary, out_dir)
    except InputError as err:  # matplotlib (the report extra) is not installed
        logger.info(f"the tuning figure is left out: {err}")
    return Tuning(name, best, rows, out_dir / "best.yaml")
