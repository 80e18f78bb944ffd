"""Algorithm 1 (jointly KD-pruning): score, prune the lowest share per layer, repeat, fine-tune.

:func:`prune_model` runs the pruning phase on a model whose step loss is given (``L_STCD``
with a frozen teacher for the paper's algorithm, the task loss for the Taylor baseline):
every ``pruning_minibatch`` training steps the accumulated Taylor scores (Eq. 13; per channel,
Eq. 14) are averaged and the lowest ``step_share`` of what remains in every hidden layer is
pruned, until ``target`` of the parameters are gone.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from tqdm.auto import tqdm

from pygkd.data.windows import ForecastDataset
from pygkd.nn.models.stgcn import STGCN
from pygkd.prune.importance import TaylorImportance
from pygkd.prune.masks import ChannelMasks, WeightMasks
from pygkd.runtime.distributed import DistributedContext, shard_batch
from pygkd.runtime.precision import Precision
from pygkd.train.config import PruneConfig, TrainConfig
from pygkd.train.trainer import StepLoss, make_optimizer, place_model

logger = logging.getLogger(__name__)

__all__ = ["prune_model", "prune_step", "pruned_share"]

Masks = ChannelMasks | WeightMasks


def pruned_share(masks: Masks, base_parameters: int) -> float:
    """Share of the base model's parameters that pruning removed (structured: from the size of
    the exported model; unstructured: from the nonzero weights)."""
    if isinstance(masks, ChannelMasks):
        remaining = sum(p.numel() for p in masks.export().parameters())
    else:
        remaining = masks.nonzero_parameters()
    return 1.0 - remaining / base_parameters


def prune_step(masks: Masks, scores: dict[str, torch.Tensor], config: PruneConfig,
               base_parameters: int, iterations: int = 20) -> float:
    """One pruning step of Algorithm 1: the lowest ``config.step_share`` of what remains in
    every hidden layer. If that passes ``config.target`` and ``config.exact_target`` is set,
    the step's share is shrunk by bisection to the smallest that still reaches the target (the
    pruned share grows with the step's share: lowest-k sets are nested). Returns the share of
    ``base_parameters`` pruned after the step."""
    before = masks.state() if config.exact_target else None
    masks.prune(scores, config.step_share)
    share = pruned_share(masks, base_parameters)
    if before is None or share <= config.target:
        return share
    low, high = 0.0, config.step_share
    for _ in range(iterations):
        middle = (low + high) / 2
        masks.restore(before)
        masks.prune(scores, middle)
        if pruned_share(masks, base_parameters) >= config.target:
            high = middle
        else:
            low = middle
    masks.restore(before)
    masks.prune(scores, high)
    return pruned_share(masks, base_parameters)


def prune_model(model: STGCN, dataset: ForecastDataset, step_loss: StepLoss,
                config: PruneConfig, train: TrainConfig, seed: int = 0, progress: bool = True,
                device: torch.device | None = None,
                distributed: DistributedContext | None = None
                ) -> tuple[Masks, list[dict[str, Any]]]:
    """The pruning phase of Algorithm 1; returns the masks and one history row per pruning.

    Runs on ``device`` (default: where the model is), under ``train.precision``, and under
    ``torchrun`` on every process (each computes its share of the global batch; DDP averages
    the gradients, so every process accumulates the same scores and prunes the same weights).
    """
    dist = distributed or DistributedContext()
    device = device or next(model.parameters()).device
    dataset = dataset.to(device, next(model.parameters()).dtype)
    model = place_model(model, device, dataset.edge_index, dataset.edge_weight)
    to_device = getattr(step_loss, "to", None)
    if callable(to_device):
        to_device(device)
    precision = Precision(train.precision, device)
    base = sum(p.numel() for p in model.parameters())
    masks: Masks = ChannelMasks(model) if config.mode == "structured" else WeightMasks(model)
    scorer = TaylorImportance(model, None if isinstance(masks, ChannelMasks) else masks.names)
    optimizer = make_optimizer(model.parameters(), train)
    set_step = getattr(step_loss, "set_step", None)
    if not dist.is_main:
        progress = False
    history: list[dict[str, Any]] = []
    share, steps, epoch = 0.0, 0, 0
    n = dataset.num_samples("train")
    if isinstance(masks, ChannelMasks):
        masks.attach()
    forward_model = dist.wrap(model, device)
    try:
        while share < config.target:
            epoch += 1
            if epoch > config.max_epochs:
                logger.warning(f"target {config.target:.1%} not reached: stopped after "
                               f"max_epochs={config.max_epochs} at {share:.1%} pruned (this "
                               "architecture cannot be pruned further, or raise max_epochs)")
                break
            generator = torch.Generator().manual_seed(seed * 100003 + 7919 * epoch)
            order = dataset.shuffled_order("train", generator)
            # disable=None: no bar when stderr is not a terminal (logs stay clean)
            bar = tqdm(order.split(train.batch_size), total=math.ceil(n / train.batch_size),
                       leave=False, desc=f"pruning epoch {epoch}",
                       disable=None if progress else True, unit="batch")
            for global_index in bar:
                index, weight = shard_batch(global_index, dist.rank, dist.world_size)
                x, y = dataset.batch("train", index)
                model.train()
                if callable(set_step):
                    set_step(steps)
                optimizer.zero_grad(set_to_none=True)
                with precision.autocast():
                    loss, _ = step_loss(forward_model, x, y, index)
                precision.backward(loss.float() * weight)
                scorer.accumulate()
                precision.step(optimizer)
                if isinstance(masks, WeightMasks):
                    masks.apply()
                steps += 1
                if steps % config.pruning_minibatch:
                    continue
                scores = scorer.average()
                if isinstance(masks, ChannelMasks):
                    scores = TaylorImportance.group_scores(scores, masks.groups)
                share = prune_step(masks, scores, config, base)
                scorer.reset()
                row: dict[str, Any] = {"step": steps, "epoch": epoch, "loss": loss.item(),
                                       "pruned": share}
                if isinstance(masks, ChannelMasks):
                    row["sizes"] = masks.sizes()
                history.append(row)
                bar.set_postfix(pruned=f"{share:.1%}")
                if share >= config.target:
                    break
            logger.info(f"pruning epoch {epoch}: {share:.1%} of {base:,} parameters pruned")
    finally:
        if isinstance(masks, ChannelMasks):
            masks.detach()
    return masks, history
