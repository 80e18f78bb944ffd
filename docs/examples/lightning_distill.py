"""Distil an STGCN teacher into a small student inside a Lightning ``LightningModule``.

pygkd's :class:`~pygkd.distill.Distiller` is an ``nn.Module``: the module below holds it, its
``training_step`` returns the distillation loss (Eq. 11: ``L_ORD`` + ``L_TCD`` + ``L_SCD``) and
logs each term; the teacher stays frozen and out of the checkpoint. The data are a
``ForecastDataset``'s windows in a ``LightningDataModule`` (``x [B, T, N, C]``, ``y [B, H, N]``).

Run: python docs/examples/lightning_distill.py   (needs: pip install "pygkd[lightning]")
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader

from pygkd.data import ForecastDataset
from pygkd.distill import Distiller
from pygkd.nn import STGCN
from pygkd.testing import toy_forecast_dataset


class Windows(L.LightningDataModule):
    """The train and validation windows of a ``ForecastDataset``."""

    def __init__(self, data: ForecastDataset, batch_size: int = 16) -> None:
        super().__init__()
        self.data, self.batch_size = data, batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.data.windows("train"), self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.data.windows("val"), self.batch_size)


class DistillModule(L.LightningModule):
    """A student trained by a :class:`~pygkd.distill.Distiller` (loss ``stcd``)."""

    def __init__(self, student: torch.nn.Module, teacher: torch.nn.Module,
                 data: ForecastDataset, lr: float = 1e-2) -> None:
        super().__init__()
        self.distiller = Distiller(student, teacher, loss="stcd")
        self.graph = (data.edge_index, data.edge_weight)
        self.lr = lr

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        x, y = batch
        edge_index, edge_weight = (t.to(x.device) for t in self.graph)
        loss, terms = self.distiller(x, edge_index, edge_weight, y)
        self.log_dict({f"train/{k}": v for k, v in terms.items()}, batch_size=len(x))
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        x, y = batch
        edge_index, edge_weight = (t.to(x.device) for t in self.graph)
        pred = self.distiller.student(x, edge_index, edge_weight)[:, 0, :, 0]
        self.log("val/mse", torch.mean((pred - y[:, 0]) ** 2), batch_size=len(x))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.distiller.parameters(), lr=self.lr)  # the student's only


def main(max_epochs: int = 2) -> DistillModule:
    torch.manual_seed(0)
    data = toy_forecast_dataset()
    teacher = STGCN(data.num_nodes, [[1, 16, 32], [32, 16, 32]])
    student = STGCN(data.num_nodes, [[1, 4, 8], [8, 4, 8]])
    module = DistillModule(student, teacher, data)
    trainer = L.Trainer(max_epochs=max_epochs, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(module, datamodule=Windows(data))
    print(f"val/mse after {max_epochs} epochs: {trainer.callback_metrics['val/mse']:.4f}")
    return module


if __name__ == "__main__":
    main()
