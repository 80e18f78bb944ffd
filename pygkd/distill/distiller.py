"""Distillation as a module for your own loop: :class:`Distiller` holds the frozen teacher(s),
the student, the loss and the layer pairs, and ``forward`` returns the loss and its terms.

Example (a plain PyTorch loop; ``model`` is any ``nn.Module`` mapping ``x [B, T, N, C]`` and
the graph to ``[B, 1, N, 1]``)::

    distiller = Distiller(student, teacher, loss="stcd",
                          temporal_pairs=[("gru", "blocks.1.temporal2")],
                          spatial_pairs=[("conv", "blocks.1.spatial")])
    optimizer = torch.optim.Adam(distiller.parameters(), lr=1e-3)   # the student's only
    for x, y in loader:
        loss, terms = distiller(x, edge_index, edge_weight, y)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from pygkd.distill.objective import DistillObjective, MultiTeacherObjective, freeze

__all__ = ["Distiller"]


class Distiller(nn.Module):
    r"""A student, its frozen teacher(s) and a distillation loss of the registry
    (:data:`pygkd.distill.LOSSES`, e.g. ``L_STCD`` of Eq. 11), as one ``nn.Module``.

    Args:
        student (nn.Module): the model trained; its parameters are the distiller's.
        teachers (nn.Module or sequence of nn.Module): frozen here (eval mode, no gradients),
            kept out of :meth:`parameters` and :meth:`state_dict`, and in eval mode whatever
            :meth:`train` is called with; they move with :meth:`to`.
        loss (str): a loss of the registry (``none``, ``rd-l2``, ``skd``, ``ord``, ``tcd``,
            ``scd``, ``stcd``, or one added by :func:`~pygkd.distill.register_loss`).
        teacher_weights (sequence of float, optional): with several teachers, the weight of
            each one's loss (default: equal).
        temporal_pairs, spatial_pairs (sequence of (student layer, teacher layer), optional):
            the layers whose features ``[B, T, N, C]`` ``L_TCD`` / ``L_SCD`` compare, by module
            name as :class:`~pygkd.distill.FeatureCapture` takes them. Default: the models'
            ``temporal_layer_names`` / ``spatial_layer_names`` paired by relative depth; an
            explicit pairing wins (a model of your own names its layers here).
        hidden_pair ((student layer, teacher layer), optional): the features of ``L_SKD``.
        **hyperparameters: the loss's settings (``alpha1``, ``alpha2``, ``alpha3``, ``alpha``,
            ``beta``, ``tau``, ``scd_nodes``), defaults as the paper's Table 6.

    ``forward(x [B, T, N, C], edge_index [2, E], edge_weight [E], y [B, H, N])`` returns
    ``(loss, terms)``: the scalar loss (the student's task loss included) and a dict of its
    terms (``ord``, ``tcd``, ``scd``, ``teacher_share``...). The step predicted is ``y[:, 0]``.
    """

    def __init__(self, student: nn.Module, teachers: nn.Module | Sequence[nn.Module],
                 loss: str = "stcd", teacher_weights: Sequence[float] | None = None,
                 temporal_pairs: Sequence[tuple[str, str]] | None = None,
                 spatial_pairs: Sequence[tuple[str, str]] | None = None,
                 hidden_pair: tuple[str, str] | None = None, **hyperparameters: Any) -> None:
        super().__init__()
        from pygkd.train.config import DistillConfig

        self.student = student
        listed = [teachers] if isinstance(teachers, nn.Module) else list(teachers)
        if not listed:
            raise ValueError("Expected at least one teacher")
        # a plain list: not submodules, so neither in parameters() nor in state_dict()
        self._teachers: list[nn.Module] = [freeze(t) for t in listed]
        config = DistillConfig(loss=loss, **hyperparameters).validate("Distiller")
        self.config = config
        empty = torch.zeros(2, 0, dtype=torch.long)
        self._objectives = [
            DistillObjective(t, config, empty, None, temporal_pairs=temporal_pairs,
                             spatial_pairs=spatial_pairs, hidden_pair=hidden_pair, cache_gb=0)
            for t in self._teachers]
        self._objective: DistillObjective | MultiTeacherObjective = self._objectives[0] \
            if len(self._objectives) == 1 else \
            MultiTeacherObjective(self._objectives, teacher_weights)
        #: the loss module of the registry (of the first teacher's term)
        self.criterion = self._objectives[0].criterion

    @property
    def teachers(self) -> list[nn.Module]:
        """The frozen teachers."""
        return list(self._teachers)

    def train(self, mode: bool = True) -> Distiller:
        super().train(mode)
        for teacher in self._teachers:
            teacher.eval()
        return self

    def _apply(self, fn: Callable[..., Any], recurse: bool = True) -> Distiller:
        super()._apply(fn, recurse)
        for teacher in self._teachers:
            teacher._apply(fn, recurse)
        return self

    def set_step(self, step: int) -> None:
        """The global training step about to run (seeds the node sample of a sampled
        ``L_SCD``, so resumed and multi-process runs draw the same nodes)."""
        self._objective.set_step(step)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None,
                y: Tensor) -> tuple[Tensor, dict[str, float]]:
        for objective in self._objectives:
            objective.edge_index, objective.edge_weight = edge_index, edge_weight
        return self._objective(self.student, x, y)

    def extra_repr(self) -> str:
        return f"loss={self.config.loss!r}, teachers={len(self._teachers)}"
