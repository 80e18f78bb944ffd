"""Distributed data parallel training on :mod:`torch.distributed` (``torchrun``).

``torchrun --nproc-per-node N -m pygkd train ...`` starts N processes; each reads its rank from
the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), joins one process group (gloo on
CPU, NCCL on CUDA) and trains a :class:`~torch.nn.parallel.DistributedDataParallel` copy of the
model. ``--batch-size`` stays the **global** batch: every process draws the same shuffled order
of windows as a single process would, and takes its own contiguous share of each batch
(:func:`shard_batch`). Each share's loss is weighted by its size, so the gradients DDP averages
equal the gradient of the global batch's mean loss: one process and N processes take the same
optimisation steps (up to float rounding). Rank 0 alone writes checkpoints, metrics and
progress (the ``pygkd`` logger of other ranks shows warnings only); checkpoints hold the
unwrapped model's state (no ``module.`` prefixes).
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["DistributedContext", "shard_batch", "unwrap_model", "start_runtime"]


def start_runtime(device: str | torch.device | None = "auto"
                  ) -> tuple[torch.device, DistributedContext]:
    """The device of this process and its :class:`DistributedContext`.

    Under ``torchrun`` (``WORLD_SIZE > 1``) ``auto``/``cuda`` resolve to the process's own GPU
    (``LOCAL_RANK``) and the process group is joined; otherwise one process on ``device``.
    """
    from pygkd.runtime.device import resolve_device

    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0")) if world > 1 else None
    resolved = resolve_device(device, local)
    return resolved, DistributedContext.from_env(resolved)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's module inside ``torch.compile`` and/or ``DistributedDataParallel`` wrappers
    (whose parameter and layer names carry ``_orig_mod.`` / ``module.`` prefixes)."""
    from torch.nn.parallel import DistributedDataParallel

    while True:
        if isinstance(model, DistributedDataParallel):
            model = model.module
        elif type(model).__name__ == "OptimizedModule" and isinstance(
                getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod  # type: ignore[assignment]
        else:
            return model


def shard_batch(index: Tensor, rank: int, world_size: int) -> tuple[Tensor, float]:
    """This rank's contiguous share of a global batch and the weight of its mean loss.

    The weight is ``world_size * len(share) / len(batch)``: DDP averages gradients over ranks,
    so weighted per-rank means add up to the global batch mean. A rank left without windows
    (a last batch smaller than the world) gets one window with weight 0, so that every rank
    still runs forward and backward.

    Example:
        >>> shard_batch(torch.arange(5), rank=1, world_size=2)
        (tensor([3, 4]), 0.8)
    """
    if world_size <= 1:
        return index, 1.0
    share = index.tensor_split(world_size)[rank]
    if share.numel() == 0:
        return index[:1], 0.0
    return share, world_size * share.numel() / index.numel()


@dataclass
class DistributedContext:
    """This process's place in a (possibly one-process) training job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints progress."""
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device | None = None) -> DistributedContext:
        """Join the process group ``torchrun`` describes in the environment (one process
        without it). The backend is NCCL for CUDA devices, gloo otherwise."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch.distributed as dist

        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        here = False
        if not dist.is_initialized():
            backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(device)
            dist.init_process_group(backend=backend)
            here = True
        if rank != 0:  # rank 0 alone reports; warnings and errors still show
            logging.getLogger("pygkd").setLevel(logging.WARNING)
        return cls(rank=rank, world_size=world, local_rank=local, initialised_here=here)

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """``DistributedDataParallel(model)`` when distributed, else ``model``."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        # 1x1 temporal convolutions get channel-last gradients; DDP copies them into its
        # buckets correctly and only warns about speed
        warnings.filterwarnings("ignore", "Grad strides do not match bucket view strides")
        return DistributedDataParallel(model, device_ids=ids, broadcast_buffers=False)

    def all_reduce_sum(self, values: Tensor) -> Tensor:
        """Sum of ``values`` over ranks (``values`` itself when not distributed)."""
        if not self.enabled:
            return values
        import torch.distributed as dist

        out = values.clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Leave the process group if this context joined it."""
        if self.enabled and self.initialised_here:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self.initialised_here = False
