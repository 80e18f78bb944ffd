"""Prune a student with :class:`~pygkd.prune.KDPruner` from a Lightning callback.

Algorithm 1 (KD-aware pruning) scores channels by the gradients of the distillation loss
(Eq. 13-14): the callback calls ``pruner.step()`` in ``on_after_backward`` (the gradients are
there, the optimiser has not stepped yet) and stops training once the target share is pruned;
``pruner.export()`` then gives the physically smaller model, equal to the masked one.

Run: python docs/examples/lightning_prune.py   (needs: pip install "pygkd[lightning]")
"""

from __future__ import annotations

import lightning as L
import torch
from lightning_distill import DistillModule, Windows  # the example beside this one

from pygkd.nn import STGCN
from pygkd.prune import KDPruner
from pygkd.testing import toy_forecast_dataset


class PruneCallback(L.Callback):
    """Calls ``pruner.step()`` after every backward pass; stops when the target is reached."""

    def __init__(self, pruner: KDPruner) -> None:
        self.pruner = pruner

    def on_after_backward(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.pruner.step()

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if self.pruner.done:
            trainer.should_stop = True


def main(target: float = 0.8) -> tuple[torch.nn.Module, torch.nn.Module, KDPruner]:
    torch.manual_seed(0)
    data = toy_forecast_dataset()
    teacher = STGCN(data.num_nodes, [[1, 16, 32], [32, 16, 32]])
    student = STGCN(data.num_nodes, [[1, 8, 16], [16, 8, 16]])
    pruner = KDPruner(student, target=target, step_share=0.2, every=2)
    trainer = L.Trainer(max_epochs=50, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[PruneCallback(pruner)])
    trainer.fit(DistillModule(student, teacher, data), datamodule=Windows(data))
    small = pruner.export()
    before = sum(p.numel() for p in student.parameters())
    after = sum(p.numel() for p in small.parameters())
    print(f"pruned {pruner.share:.1%}: {before:,} -> {after:,} parameters, "
          f"blocks {small.block_channels}")
    return student, small, pruner


if __name__ == "__main__":
    main()
