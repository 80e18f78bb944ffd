"""The training loop: next-step loss, step LR decay, early stopping, resumable checkpoints.

Every epoch ends by writing ``last.pt`` (model, optimiser, scheduler, early-stopping state,
history) atomically; a killed run started again with the same output folder continues from
the last finished epoch. The best model by validation MAE is kept in ``model.pt``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from pygkd.data.windows import ForecastDataset
from pygkd.errors import InputError
from pygkd.train.checkpoint import load_checkpoint, save_checkpoint
from pygkd.train.config import TrainConfig
from pygkd.train.evaluate import forecast_split

__all__ = ["Trainer", "StepLoss", "next_step_mse", "make_optimizer"]

#: ``(model, x [B, T, N, C], y [B, H, N], index [B]) -> (loss, logs)``; ``index`` holds the
#: training-window indices of the batch (for caches keyed by window).
StepLoss = Callable[[nn.Module, Tensor, Tensor, Tensor], Tuple[Tensor, Dict[str, float]]]


def next_step_mse(edge_index: Tensor, edge_weight: Tensor) -> StepLoss:
    """The plain task loss: mean squared error of the next step (z-scored)."""

    def loss(model: nn.Module, x: Tensor, y: Tensor,
             index: Optional[Tensor] = None) -> Tuple[Tensor, Dict[str, float]]:
        pred = model(x, edge_index, edge_weight)[:, 0, :, 0]
        value = torch.mean((pred - y[:, 0]) ** 2)
        return value, {}

    return loss


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
    history: List[Dict[str, float]] = field(default_factory=list)
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
        step_loss (StepLoss, optional): the loss of one batch (default: next-step MSE).
        meta (dict, optional): plain values stored in every checkpoint (configs, data info).
        params (iterable, optional): the parameters to optimise (default: all of ``model``).
        after_step (callable, optional): called after every optimiser step (e.g. re-applying
            pruning masks).
    """

    def __init__(
        self,
        model: nn.Module,
        dataset: ForecastDataset,
        config: TrainConfig,
        out_dir: Path,
        seed: int = 0,
        step_loss: Optional[StepLoss] = None,
        meta: Optional[Dict[str, Any]] = None,
        params=None,  # type: ignore[no-untyped-def]
        after_step: Optional[Callable[[], None]] = None,
    ) -> None:
        self.model, self.dataset, self.config = model, dataset, config
        self.out_dir, self.seed = Path(out_dir), seed
        self.step_loss = step_loss or next_step_mse(dataset.edge_index, dataset.edge_weight)
        self.meta = dict(meta or {})
        self.optimizer = make_optimizer(params if params is not None else model.parameters(), config)
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=config.lr_step, gamma=config.lr_decay
        )
        self.after_step = after_step
        self.state = _State()
        self.best_state: Dict[str, Tensor] = {
            k: v.detach().clone() for k, v in model.state_dict().items()
        }

    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"

    def _payload(self) -> Dict[str, Any]:
        s = self.state
        return {
            "kind": "training-state",
            "meta": self.meta,
            "model_state": self.model.state_dict(),
            "best_state": self.best_state,
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict(),
            "state": {"epoch": s.epoch, "best_val": s.best_val, "best_epoch": s.best_epoch,
                      "bad_epochs": s.bad_epochs, "history": s.history, "seconds": s.seconds},
        }

    def resume(self) -> bool:
        """Continue from ``last.pt`` if present; refuse one written by a different run."""
        if not self.last_path.exists():
            return False
        payload = load_checkpoint(self.last_path)
        if payload.get("meta", {}).get("run") != self.meta.get("run"):
            raise InputError(
                f"{self.out_dir}: holds a run with a different configuration; choose another "
                "--out folder or pass --fresh to start over"
            )
        self.model.load_state_dict(payload["model_state"])
        self.best_state = payload["best_state"]
        self.optimizer.load_state_dict(payload["optimizer_state"])
        self.scheduler.load_state_dict(payload["scheduler_state"])
        st = payload["state"]
        self.state = _State(st["epoch"], st["best_val"], st["best_epoch"], st["bad_epochs"],
                            list(st["history"]), st["seconds"])
        return True

    @property
    def finished(self) -> bool:
        s = self.state
        return s.epoch >= self.config.epochs or s.bad_epochs >= self.config.patience

    def validation_mae(self) -> float:
        """Mean de-normalised MAE over all forecast steps on the validation split."""
        pred, truth = forecast_split(self.model, self.dataset, "val", self.config.eval_batch_size)
        return float((pred - truth).abs().mean())

    def train_epoch(self, epoch: int, progress: bool = True) -> Dict[str, float]:
        cfg = self.config
        generator = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        n = self.dataset.num_samples("train")
        total = math.ceil(n / cfg.batch_size)
        if cfg.max_batches is not None:
            total = min(total, cfg.max_batches)
        limit = None if cfg.max_batches is None else cfg.max_batches * cfg.batch_size
        self.model.train()
        sums: Dict[str, float] = {}
        count = 0
        bar = tqdm(self.dataset.batches("train", cfg.batch_size, shuffle=True, generator=generator,
                                        limit=limit, with_index=True),
                   total=total, desc=f"epoch {epoch}/{cfg.epochs}", leave=False,
                   disable=not progress, unit="batch", dynamic_ncols=True)
        for x, y, index in bar:
            self.optimizer.zero_grad(set_to_none=True)
            loss, logs = self.step_loss(self.model, x, y, index)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"epoch {epoch}: loss is {float(loss)}; lower the lr")
            loss.backward()
            self.optimizer.step()
            if self.after_step is not None:
                self.after_step()
            count += 1
            for key, value in {"loss": loss.item(), **logs}.items():
                sums[key] = sums.get(key, 0.0) + value
            bar.set_postfix(loss=f"{sums['loss'] / count:.4f}")
        return {k: v / max(count, 1) for k, v in sums.items()}

    def fit(self, progress: bool = True, resume: bool = True,
            log: Callable[[str], None] = print) -> _State:
        """Train until ``epochs`` or early stopping; return the final state.

        Leaves the best weights (by validation MAE) loaded in ``self.model``.
        """
        if resume and self.resume():
            log(f"resuming {self.out_dir} after epoch {self.state.epoch}")
        while not self.finished:
            epoch = self.state.epoch + 1
            start = time.perf_counter()
            logs = self.train_epoch(epoch, progress)
            val = self.validation_mae()
            lr = self.optimizer.param_groups[0]["lr"]
            self.scheduler.step()
            s = self.state
            s.epoch, s.seconds = epoch, s.seconds + time.perf_counter() - start
            improved = val < s.best_val - 1e-6
            if improved:
                s.best_val, s.best_epoch, s.bad_epochs = val, epoch, 0
                self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                s.bad_epochs += 1
            s.history.append({"epoch": epoch, "lr": lr, "val_mae": val, **logs})
            save_checkpoint(self.last_path, self._payload())
            extras = "".join(f" {k} {v:.4f}" for k, v in logs.items() if k != "loss")
            log(f"epoch {epoch:3d}  loss {logs.get('loss', float('nan')):.4f}{extras}  "
                f"val MAE {val:.3f}{' *' if improved else ''}  ({time.perf_counter() - start:.1f}s)")
        self.model.load_state_dict(self.best_state)
        return self.state
