"""The training loop: next-step loss, step LR decay, early stopping, resumable checkpoints.

Every epoch ends by writing ``last.pt`` (model, optimiser, scheduler, early-stopping state,
history) atomically; a killed run started again with the same output folder continues from
the last finished epoch. The best model by validation MAE is kept in ``model.pt``.

The loop runs on any device (``device``), under mixed precision (``config.precision``),
optionally compiled (``config.compile``) and data-parallel over processes started by
``torchrun`` (:mod:`pygkd.runtime.distributed`): the global batch is the same as in one
process, each rank computes its share, and only rank 0 writes files and shows progress.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from pygkd.data.windows import ForecastDataset
from pygkd.errors import InputError
from pygkd.runtime.device import resolve_device
from pygkd.runtime.distributed import DistributedContext, shard_batch, unwrap_model
from pygkd.runtime.precision import Precision
from pygkd.train.checkpoint import cpu_state, load_checkpoint, save_checkpoint
from pygkd.train.config import TrainConfig, config_changes
from pygkd.train.evaluate import forecast_split

logger = logging.getLogger(__name__)
ModelT = TypeVar("ModelT", bound=nn.Module)

__all__ = ["Trainer", "StepLoss", "next_step_mse", "make_optimizer", "place_model"]

#: ``(model, x [B, T, N, C], y [B, H, N], index [B]) -> (loss, logs)``; ``index`` holds the
#: training-window indices of the batch (for caches keyed by window).
StepLoss = Callable[[nn.Module, Tensor, Tensor, Tensor], tuple[Tensor, dict[str, float]]]


def next_step_mse(edge_index: Tensor, edge_weight: Tensor) -> StepLoss:
    """The plain task loss: mean squared error of the next step (z-scored)."""

    def loss(model: nn.Module, x: Tensor, y: Tensor,
             index: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        pred = model(x, edge_index, edge_weight)[:, 0, :, 0]
        value = torch.mean((pred - y[:, 0]) ** 2)
        return value, {}

    return loss


def place_model(model: ModelT, device: torch.device, edge_index: Tensor,
                edge_weight: Tensor | None = None,
                dtype: torch.dtype | None = None) -> ModelT:
    """Move ``model`` to ``device`` (and floating ``dtype``) and, for models that support it
    (:meth:`pygkd.nn.STGCN.cache_graph`), build its graph operator once on that device."""
    model = model.to(device=device, dtype=dtype) if dtype is not None else model.to(device)
    cache_graph = getattr(model, "cache_graph", None)
    if callable(cache_graph):
        cache_graph(edge_index.to(device), None if edge_weight is None else edge_weight.to(device))
    return model


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:  # type: ignore[no-untyped-def]
    """Adam (default) or RMSprop with the configured learning rate and weight decay."""
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


@dataclass
class _State:
    epoch: int = 0
    best_val: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


class Trainer:
    """Trains a one-step forecaster on a :class:`~pygkd.data.ForecastDataset`.

    Args:
        model (nn.Module): maps ``x [B, T, N, C]`` (and the graph) to ``[B, 1, N, 1]``.
        dataset (ForecastDataset): windows and graph.
        config (TrainConfig): optimisation settings.
        out_dir (Path): where ``last.pt`` / ``model.pt`` go.
        seed (int): seeds the shuffling (epoch ``e`` uses ``seed + e``, so resumed runs see the
            same batches).
        step_loss (StepLoss, optional): the loss of one batch (default: next-step MSE); its
            ``state_dict()``, when it has one, is saved in ``last.pt`` and restored on resume.
        meta (dict, optional): plain values stored in every checkpoint (configs, data info).
        params (iterable, optional): the parameters to optimise (default: all of ``model``).
        after_step (callable, optional): called after every optimiser step (e.g. re-applying
            pruning masks).
        callbacks (sequence, optional): objects called at points of every training step, by
            the methods they have: ``after_backward()`` (gradients are in ``.grad``, before the
            optimiser step: e.g. :class:`~pygkd.prune.KDPruner`), ``after_step()``,
            ``after_epoch(epoch, val_mae)`` (after ``last.pt`` is written: e.g. reporting to
            an Optuna trial, which may stop the run by raising); a true
            ``stop_training`` ends training after the step; ``state_dict()`` /
            ``load_state_dict()`` are saved in ``last.pt`` and restored on resume.
        restore_best (bool): leave the best weights by validation MAE in the model when
            :meth:`fit` ends (default); else the last ones (a pruning phase, whose model
            changes as it goes).
        shuffle_seed (callable, optional): epoch -> seed of that epoch's shuffle (default:
            ``seed * 100003 + epoch``).
    """

    def __init__(
        self,
        model: nn.Module,
        dataset: ForecastDataset,
        config: TrainConfig,
        out_dir: Path,
        seed: int = 0,
        step_loss: StepLoss | None = None,
        meta: dict[str, Any] | None = None,
        params=None,  # type: ignore[no-untyped-def]
        after_step: Callable[[], None] | None = None,
        device: torch.device | str | None = None,
        distributed: DistributedContext | None = None,
        callbacks: Sequence[Any] = (),
        restore_best: bool = True,
        shuffle_seed: Callable[[int], int] | None = None,
    ) -> None:
        self.dist = distributed or DistributedContext()
        self.device = resolve_device(device if device is not None else "cpu",
                                     self.dist.local_rank)
        dtype = next(model.parameters()).dtype
        self.dataset = dataset.to(self.device, dtype)
        self.model = place_model(model, self.device, self.dataset.edge_index,
                                 self.dataset.edge_weight)
        self.config = config
        self.out_dir, self.seed = Path(out_dir), seed
        self.step_loss = step_loss or next_step_mse(self.dataset.edge_index,
                                                    self.dataset.edge_weight)
        to_device = getattr(self.step_loss, "to", None)
        if callable(to_device):
            to_device(self.device)
        self.meta = dict(meta or {})
        self.precision = Precision(config.precision, self.device)
        #: what the training step calls: the model, wrapped by DDP and/or torch.compile
        self.forward_model: nn.Module = self.dist.wrap(self.model, self.device)
        if config.compile:
            self.forward_model = torch.compile(self.forward_model)  # type: ignore[assignment]
        self.optimizer = make_optimizer(params if params is not None else model.parameters(),
                                        config)
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=config.lr_step, gamma=config.lr_decay
        )
        self.after_step = after_step
        self.callbacks = list(callbacks)
        self.restore_best = restore_best
        self.shuffle_seed = shuffle_seed or (lambda epoch: self.seed * 100003 + epoch)
        self.state = _State()
        self.best_state: dict[str, Tensor] = cpu_state(model)

    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"

    def _payload(self) -> dict[str, Any]:
        s = self.state
        return {
            "kind": "training-state",
            "meta": self.meta,
            "signature": self.signature(),
            "model_state": cpu_state(self.model),
            "best_state": self.best_state,
            "optimizer_state": _to_cpu(self.optimizer.state_dict()),
            "scheduler_state": self.scheduler.state_dict(),
            "scaler_state": self.precision.state_dict(),
            "callbacks": [cb.state_dict() if callable(getattr(cb, "state_dict", None)) else None
                          for cb in self.callbacks],
            "step_loss": self.step_loss.state_dict()  # type: ignore[attr-defined]
            if callable(getattr(self.step_loss, "state_dict", None)) else None,
            "state": {"epoch": s.epoch, "best_val": s.best_val, "best_epoch": s.best_epoch,
                      "bad_epochs": s.bad_epochs, "history": s.history, "seconds": s.seconds},
        }

    def signature(self) -> dict[str, Any]:
        """What makes this run this run, whoever built the trainer (the CLI or a user's
        code): the training settings, the model's configuration and parameter shapes, and the
        data's name, sensors, windows and split. ``last.pt`` stores it; :meth:`resume` refuses
        a folder whose run differs."""

        model = unwrap_model(self.model)
        config = getattr(model, "config", None)
        d = self.dataset
        return {
            "train": {k: v for k, v in dataclasses.asdict(self.config).items()
                      if k not in ("device",)},
            "model": config() if callable(config) else type(model).__name__,
            "parameters": {k: list(v.shape) for k, v in model.state_dict().items()},
            "data": {"name": d.name, "nodes": d.num_nodes, "n_in": d.n_in, "n_out": d.n_out,
                     "split": [list(b) for b in d.split_steps or ()],
                     "inputs": list(d.input_names)},
            "seed": self.seed,
        }

    def resume(self) -> bool:
        """Continue from ``last.pt`` if present; refuse one written by a different run (other
        settings, model or data), also when the trainer was built from Python."""
        if not self.last_path.exists():
            return False
        payload = load_checkpoint(self.last_path)
        saved, new = payload.get("meta", {}).get("run"), self.meta.get("run")
        changes = config_changes(saved, new) if isinstance(saved, dict) and \
            isinstance(new, dict) else ("" if saved == new else "another run")
        stored = payload.get("signature")
        if not changes and isinstance(stored, dict):
            changes = config_changes(json.loads(json.dumps(stored, default=str)),
                                     json.loads(json.dumps(self.signature(), default=str)))
        if changes:
            raise InputError(
                f"{self.out_dir}: holds a run with a different configuration ({changes}); "
                "choose another folder (--out) or start over (--fresh; fit(resume=False))"
            )
        try:
            self.model.load_state_dict(payload["model_state"])
        except RuntimeError as err:
            first = str(err).strip().splitlines()[-1].strip()
            raise InputError(f"{self.last_path}: its weights do not fit this model ({first}); "
                             "choose another folder or start over") from None
        self.best_state = payload["best_state"]
        self.optimizer.load_state_dict(payload["optimizer_state"])  # moved to the params' device
        self.scheduler.load_state_dict(payload["scheduler_state"])
        self.precision.load_state_dict(payload.get("scaler_state", {}))
        for cb, saved_state in zip(self.callbacks, payload.get("callbacks", []), strict=False):
            if saved_state is not None and callable(getattr(cb, "load_state_dict", None)):
                cb.load_state_dict(saved_state)
        saved_loss = payload.get("step_loss")
        if saved_loss is not None and callable(getattr(self.step_loss, "load_state_dict", None)):
            self.step_loss.load_state_dict(saved_loss)  # type: ignore[attr-defined]
        st = payload["state"]
        self.state = _State(st["epoch"], st["best_val"], st["best_epoch"], st["bad_epochs"],
                            list(st["history"]), st["seconds"])
        return True

    @property
    def finished(self) -> bool:
        s = self.state
        return s.epoch >= self.config.epochs or s.bad_epochs >= self.config.patience \
            or self.stopped

    @property
    def stopped(self) -> bool:
        """A callback asked to stop (``stop_training``)."""
        return any(getattr(cb, "stop_training", False) for cb in self.callbacks)

    def _call(self, point: str, *args: Any) -> None:
        for cb in self.callbacks:
            method = getattr(cb, point, None)
            if callable(method):
                method(*args)

    def validation_mae(self) -> float:
        """Mean de-normalised MAE over all forecast steps on the validation split (under DDP
        each rank forecasts its share of the windows and the sums are all-reduced)."""
        dataset = self.dataset
        if self.dist.enabled:
            share = torch.arange(dataset.num_samples("val")).tensor_split(
                self.dist.world_size)[self.dist.rank]
            dataset = dataclasses.replace(
                dataset, starts={**dataset.starts, "val": dataset.starts["val"][share]})
        pred, truth = forecast_split(self.model, dataset, "val", self.config.eval_batch_size)
        if not self.dist.enabled:
            return float((pred - truth).abs().mean())
        local = torch.tensor([float((pred - truth).double().abs().sum()), pred.numel()],
                             dtype=torch.float64)
        if self.device.type == "cuda":
            local = local.to(self.device)
        total = self.dist.all_reduce_sum(local).cpu()
        return float(total[0] / total[1])

    def train_epoch(self, epoch: int, progress: bool = True) -> dict[str, float]:
        """One pass over the training windows (each rank: its share of every global batch)."""
        cfg = self.config
        generator = torch.Generator().manual_seed(self.shuffle_seed(epoch))
        n = self.dataset.num_samples("train")
        total = math.ceil(n / cfg.batch_size)
        if cfg.max_batches is not None:
            total = min(total, cfg.max_batches)
        limit = None if cfg.max_batches is None else cfg.max_batches * cfg.batch_size
        self.model.train()
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}  # a log may come from some steps only (diagnostics)
        count = 0
        order = self.dataset.shuffled_order("train", generator, limit)
        batches = order.split(cfg.batch_size)
        bar = tqdm(batches, total=total, desc=f"epoch {epoch}/{cfg.epochs}", leave=False,
                   disable=None if progress and self.dist.is_main else True, unit="batch",
                   dynamic_ncols=True)
        set_step = getattr(self.step_loss, "set_step", None)
        for i, global_index in enumerate(bar):
            if callable(set_step):
                set_step((epoch - 1) * total + i)
            index, weight = shard_batch(global_index, self.dist.rank, self.dist.world_size)
            x, y = self.dataset.batch("train", index)
            self.optimizer.zero_grad(set_to_none=True)
            with self.precision.autocast():
                loss, logs = self.step_loss(self.forward_model, x, y, index)
            loss = loss.float()
            if not torch.isfinite(loss):
                if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
                    raise InputError(f"epoch {epoch}: the training windows hold NaN or inf "
                                     "values; check the data")
                raise InputError(
                    f"epoch {epoch}, step {i + 1}: the loss became {float(loss)} with "
                    f"lr {self.optimizer.param_groups[0]['lr']:g}; lower train.lr (--lr)")
            self.precision.backward(loss * weight)
            self._call("after_backward")
            self.precision.step(self.optimizer)
            if self.after_step is not None:
                self.after_step()
            self._call("after_step")
            count += 1
            values = self._global_means({"loss": loss.item(), **logs}, weight)
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value
                counts[key] = counts.get(key, 0) + 1
            bar.set_postfix(loss=f"{sums['loss'] / count:.4f}")
            if self.stopped:
                break
        return {k: v / counts[k] for k, v in sums.items()}

    def _global_means(self, logs: dict[str, float], weight: float) -> dict[str, float]:
        """Per-batch logs as means over the global batch (identical on every rank)."""
        if not self.dist.enabled:
            return logs
        keys = sorted(logs)
        local = torch.tensor([logs[k] * weight for k in keys], dtype=torch.float64)
        if self.device.type == "cuda":  # NCCL reduces device tensors
            local = local.to(self.device)
        total = self.dist.all_reduce_sum(local) / self.dist.world_size
        return dict(zip(keys, total.cpu().tolist(), strict=False))

    def fit(self, progress: bool = True, resume: bool = True) -> _State:
        """Train until ``epochs`` or early stopping; return the final state.

        Leaves the best weights (by validation MAE) loaded in ``self.model`` (the last ones
        with ``restore_best=False``).
        """
        if resume and self.resume():
            logger.info(f"resuming {self.out_dir} after epoch {self.state.epoch}")
        while not self.finished:
            epoch = self.state.epoch + 1
            start = time.perf_counter()
            lr_now = self.optimizer.param_groups[0]["lr"]
            logs = self.train_epoch(epoch, progress)
            val = self.validation_mae()
            if not math.isfinite(val):
                raise InputError(
                    f"epoch {epoch}: the validation error became {val} with lr {lr_now:g} "
                    "(training diverged); lower train.lr (--lr)")
            lr = self.optimizer.param_groups[0]["lr"]
            self.scheduler.step()
            s = self.state
            s.epoch, s.seconds = epoch, s.seconds + time.perf_counter() - start
            improved = val < s.best_val - 1e-6
            if improved:
                s.best_val, s.best_epoch, s.bad_epochs = val, epoch, 0
                self.best_state = cpu_state(self.model)
            else:
                s.bad_epochs += 1
            s.history.append({"epoch": epoch, "lr": lr, "val_mae": val, **logs})
            if self.dist.is_main:
                save_checkpoint(self.last_path, self._payload())
            self.dist.barrier()
            extras = "".join(f" {k} {v:.4f}" for k, v in logs.items() if k != "loss")
            logger.info(f"epoch {epoch:3d}  loss {logs.get('loss', float('nan')):.4f}{extras}  "
                        "val MAE "
                f"{val:.3f}{' *' if improved else ''}  ({time.perf_counter() - start:.1f}s)")
            self._call("after_epoch", epoch, val)
        if self.restore_best:
            self.model.load_state_dict(self.best_state)
            if self.best_epoch_is_last:
                logger.warning(
                    f"the best validation epoch is the last ({self.state.epoch} of "
                    f"train.epochs {self.config.epochs}): the validation curve had not "
                    "flattened; more epochs (--epochs) would likely help")
        return self.state

    @property
    def best_epoch_is_last(self) -> bool:
        """Training stopped at ``epochs`` with its best validation MAE at the last epoch
        (the run was cut short; early stopping never saw the curve flatten)."""
        s = self.state
        return s.epoch > 1 and s.epoch >= self.config.epochs and s.best_epoch == s.epoch \
            and not self.stopped


def _to_cpu(value: Any) -> Any:
    """Tensors in nested dicts/lists moved to the CPU (checkpoints load on any device)."""
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value
