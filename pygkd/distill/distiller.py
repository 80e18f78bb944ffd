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

from pygkd.distill.diagnostics import GRADIENT_SHARE_PREFIX, gradient_shares
from pygkd.distill.teacher import TeacherTerm

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
        num_windows (int, optional), cache_gb (float): with both, the teachers' targets are
            cached per training window (``forward(..., index=...)``) within ``cache_gb`` GiB
            (:class:`~pygkd.distill.teacher.TeacherCache`); default: computed every batch.
        seed (int): seeds the node sample of a sampled ``L_SCD`` (with :meth:`set_step`).
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
                 hidden_pair: tuple[str, str] | None = None, *,
                 num_windows: int | None = None, cache_gb: float = 0.0, seed: int = 0,
                 **hyperparameters: Any) -> None:
        from pygkd.train.config import DistillConfig

        listed = [teachers] if isinstance(teachers, nn.Module) else list(teachers)
        if not listed:
            raise ValueError("Expected at least one teacher")
        config = DistillConfig(loss=loss, **hyperparameters).validate("Distiller")
        empty = torch.zeros(2, 0, dtype=torch.long)
        terms = [TeacherTerm(t, config, empty, None, temporal_pairs=temporal_pairs,
                             spatial_pairs=spatial_pairs, hidden_pair=hidden_pair,
                             num_windows=num_windows, cache_gb=cache_gb, seed=seed)
                 for t in listed]
        super().__init__()
        self._setup(student, terms, teacher_weights)

    @classmethod
    def from_terms(cls, student: nn.Module, terms: Sequence[TeacherTerm],
                   weights: Sequence[float] | None = None) -> Distiller:
        """A distiller of ``student`` on teacher terms built elsewhere (their caches kept)."""
        distiller = cls.__new__(cls)
        nn.Module.__init__(distiller)
        distiller._setup(student, list(terms), weights)
        return distiller

    def _setup(self, student: nn.Module, terms: list[TeacherTerm],
               weights: Sequence[float] | None) -> None:
        self.student = student
        # a plain list: the teachers are not submodules, so neither in parameters() nor in
        # state_dict()
        self._terms = terms
        self.weights = self.normalised_weights(len(terms), weights)
        self.config = terms[0].config
        #: each teacher term's loss module of the registry; its learned parts (a FitNets
        #: adapter) are the distiller's parameters besides the student's
        self.criteria = nn.ModuleList([term.criterion for term in terms])

    @property
    def criterion(self) -> nn.Module:
        """The loss module of the registry of the first teacher's term."""
        return self.criteria[0]

    def prepare(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None,
                y: Tensor) -> Distiller:
        """One batch through the loss without gradients (eval mode, nothing cached, no
        sampling decided): makes the parts of the loss that learn (a FitNets adapter, whose
        widths the features give) so that an optimiser over :meth:`parameters` sees them."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                self(x, edge_index, edge_weight, y)
        finally:
            self.train(was_training)
        return self

    @staticmethod
    def normalised_weights(count: int, weights: Sequence[float] | None) -> list[float]:
        """``weights`` divided by their sum (default: equal), checked.

        Example:
            >>> Distiller.normalised_weights(2, [3, 1])
            [0.75, 0.25]
        """
        weights = [1.0] * count if weights is None else [float(w) for w in weights]
        if len(weights) != count or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"Expected {count} non-negative teacher weights with a positive "
                             f"sum (got {list(weights)})")
        total = sum(weights)
        return [w / total for w in weights]

    @property
    def teachers(self) -> list[nn.Module]:
        """The frozen teachers."""
        return [term.teacher for term in self._terms]

    @property
    def terms(self) -> list[TeacherTerm]:
        """One :class:`~pygkd.distill.teacher.TeacherTerm` per teacher."""
        return list(self._terms)

    def train(self, mode: bool = True) -> Distiller:
        super().train(mode)
        for teacher in self.teachers:
            teacher.eval()
        return self

    def _apply(self, fn: Callable[..., Any], recurse: bool = True) -> Distiller:
        super()._apply(fn, recurse)
        for teacher in self.teachers:
            teacher._apply(fn, recurse)
        return self

    def set_step(self, step: int) -> None:
        """The global training step about to run (seeds the node sample of a sampled
        ``L_SCD``, so resumed and multi-process runs draw the same nodes)."""
        for term in self._terms:
            term.set_step(step)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None,
                y: Tensor, index: Tensor | None = None, model: nn.Module | None = None,
                diagnose: bool = False) -> tuple[Tensor, dict[str, float]]:
        """The loss of a batch and its terms (weighted over the teachers).

        Args:
            x (Tensor): ``[B, T, N, C]`` windows; y (Tensor): ``[B, H, N]`` targets.
            edge_index (Tensor): ``[2, E]``; edge_weight (Tensor, optional): ``[E]``.
            index (Tensor, optional): ``[B]`` training-window indices, for the teacher cache
                (``num_windows``, ``cache_gb``).
            model (nn.Module, optional): what runs the student's forward pass when it is
                wrapped (DDP, ``torch.compile``); default: :attr:`student`.
            diagnose (bool): also log each term's share of the student's gradient norm
                (``grad_share_ord``, ``grad_share_tcd``...;
                :func:`~pygkd.distill.diagnostics.gradient_shares`; one extra backward pass
                per term).
        """
        model = self.student if model is None else model
        total: Tensor | None = None
        logs: dict[str, float] = {}
        terms: dict[str, Tensor] = {}
        for weight, term in zip(self.weights, self._terms, strict=True):
            term.edge_index, term.edge_weight = edge_index, edge_weight
            loss, parts = term(model, x, y, index)
            total = weight * loss if total is None else total + weight * loss
            for key, value in parts.items():
                logs[key] = logs.get(key, 0.0) + weight * value
            if diagnose:
                for key, tensor in term.terms.items():
                    terms[key] = weight * tensor if key not in terms else \
                        terms[key] + weight * tensor
        assert total is not None
        if diagnose:
            shares = gradient_shares(terms, self.student.parameters())
            logs.update({f"{GRADIENT_SHARE_PREFIX}{k}": v for k, v in shares.items()})
        return total, logs

    def extra_repr(self) -> str:
        return f"loss={self.config.loss!r}, teachers={len(self._terms)}"
