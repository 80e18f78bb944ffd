"""The distillation loss as the trainer's step loss (paper Sec. 3.2).

:class:`DistillObjective` is a :data:`~pygkd.train.trainer.StepLoss`: the trainer calls it with
``(student, x, y, index)``; it runs the :class:`~pygkd.distill.Distiller` of that student (built
on the first call, from the objective's teacher terms) and hands back its loss and terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from pygkd.distill import functional as Fd
from pygkd.distill.distiller import Distiller
from pygkd.distill.teacher import TeacherCache, TeacherTerm
from pygkd.runtime.distributed import unwrap_model
from pygkd.train.config import DistillConfig

__all__ = ["DistillObjective", "MultiTeacherObjective", "teacher_share"]


class DistillObjective:
    """The trainer's step loss for distillation from ``teacher`` with ``config.loss``.

    Args:
        teacher (nn.Module): frozen here.
        config (DistillConfig): loss name and hyper-parameters (``scd_nodes``: nodes sampled
            per batch for ``L_SCD``, see :func:`~pygkd.distill.teacher.scd_sample_size`).
        edge_index (Tensor), edge_weight (Tensor): the graph, passed to both models.
        temporal_pairs, spatial_pairs (sequence of (student, teacher) layer names, optional):
            default: the models' ``temporal_layer_names`` / ``spatial_layer_names`` paired by
            relative depth.
        hidden_pair ((student, teacher), optional): layers for ``L_SKD`` (default: the models'
            ``hidden_layer_name``).
        num_windows (int, optional): training windows; with ``cache_gb > 0`` the teacher's
            outputs and distances are cached per window
            (:class:`~pygkd.distill.teacher.TeacherCache`) when they fit.
        cache_gb (float): memory budget of that cache in GiB; 0 disables it (default: ``6``).
        seed (int): seeds the node sample of the sampled ``L_SCD`` (with the step number set by
            :meth:`set_step`, so resumed and multi-process runs draw the same nodes).

    Set :attr:`diagnose_every` (steps) to log each term's share of the student's gradient
    every that many steps (``grad_share_<term>``; the trainer averages logs per epoch over the
    steps that have them).

    ``__call__(student, x [B, T, N, C], y [B, H, N], index [B])`` returns ``(loss, logs)`` of
    the student's :class:`~pygkd.distill.Distiller` (built on the first call; ``student`` may
    be wrapped by DDP or ``torch.compile``: the distiller holds the module inside and runs the
    wrapper). Call :meth:`to` to move the teacher and graph to the training device.
    """

    def __init__(self, teacher: nn.Module, config: DistillConfig, edge_index: Tensor,
                 edge_weight: Tensor | None = None, **options: Any) -> None:
        # options: temporal_pairs, spatial_pairs, hidden_pair, num_windows, cache_gb, seed
        self.terms = [TeacherTerm(teacher, config, edge_index, edge_weight, **options)]
        self.weights: list[float] | None = None
        self.edge_index, self.edge_weight = edge_index, edge_weight
        self.distiller: Distiller | None = None
        #: log the terms' gradient shares every this many steps (``None``: never)
        self.diagnose_every: int | None = None
        self.step = 0

    # the first teacher's term, as a single-teacher objective exposes it
    @property
    def config(self) -> DistillConfig:
        return self.terms[0].config

    @property
    def teacher(self) -> nn.Module:
        return self.terms[0].teacher

    @property
    def teachers(self) -> list[nn.Module]:
        return [term.teacher for term in self.terms]

    @property
    def criterion(self) -> Any:
        """The loss module of the registry (of the first teacher's term)."""
        return self.terms[0].criterion

    @property
    def cache(self) -> TeacherCache | None:
        """The first teacher's cache of targets per window, if any."""
        return self.terms[0].cache

    def layer_pairs(self, student: nn.Module) -> list[tuple[str, str, str]]:
        """(kind, student layer, teacher layer) of the first teacher's term."""
        return self.terms[0].layer_pairs(student)

    def to(self, device: torch.device) -> DistillObjective:
        """Move the teachers and the graph to ``device``."""
        self.edge_index = self.edge_index.to(device)
        if self.edge_weight is not None:
            self.edge_weight = self.edge_weight.to(device)
        for term in self.terms:
            term.to(device)
        return self

    def set_step(self, step: int) -> None:
        """The global training step about to run (seeds that step's node sample)."""
        self.step = int(step)
        for term in self.terms:
            term.set_step(step)

    def parameters(self) -> list[nn.Parameter]:
        """The loss's learned parameters (a FitNets adapter; made by :meth:`prepare`), trained
        with the student's."""
        return [p for term in self.terms for p in term.criterion.parameters()]

    def prepare(self, student: nn.Module, x: Tensor, y: Tensor) -> DistillObjective:
        """One batch through the loss without gradients, before the optimiser is built (see
        :meth:`pygkd.distill.Distiller.prepare`)."""
        Distiller.from_terms(student, self.terms, self.weights).prepare(
            x, self.edge_index, self.edge_weight, y)
        return self

    def state_dict(self) -> dict[str, Any]:
        """Each teacher term's decisions a resumed run must reuse (the trainer saves it in
        ``last.pt``)."""
        return {"terms": [term.state_dict() for term in self.terms]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for term, saved in zip(self.terms, state.get("terms", []), strict=False):
            term.load_state_dict(saved)

    def __call__(self, student: nn.Module, x: Tensor, y: Tensor,
                 index: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        inner = unwrap_model(student)
        if self.distiller is None or self.distiller.student is not inner:
            self.distiller = Distiller.from_terms(inner, self.terms, self.weights)
        diagnose = bool(self.diagnose_every) and student.training and \
            self.step % int(self.diagnose_every or 1) == 0
        return self.distiller(x, self.edge_index, self.edge_weight, y, index=index,
                              model=student, diagnose=diagnose)


class MultiTeacherObjective(DistillObjective):
    r"""Distillation from several teachers (the paper's future work, Sec. 5.2):
    :math:`L = \sum_k w_k L(\text{student}; \text{teacher}_k)` with :math:`\sum_k w_k = 1`,
    the terms of the given objectives (each with its own teacher cache). The teachers may be
    of any families; they must share the student's data. Logs are the weighted means of the
    terms' logs.

    Args:
        objectives (sequence of DistillObjective): one per teacher.
        weights (sequence of float, optional): non-negative, normalised (default: equal).
    """

    def __init__(self, objectives: Sequence[DistillObjective],
                 weights: Sequence[float] | None = None) -> None:
        if not objectives:
            raise ValueError("Expected at least one objective (one per teacher)")
        self.terms = [term for objective in objectives for term in objective.terms]
        self.weights = Distiller.normalised_weights(len(self.terms), weights)
        self.edge_index, self.edge_weight = objectives[0].edge_index, objectives[0].edge_weight
        self.distiller = None
        self.diagnose_every, self.step = None, 0


@torch.no_grad()
def teacher_share(teacher: nn.Module, batches, alpha1: float,  # type: ignore[no-untyped-def]
                  edge_index: Tensor, edge_weight: Tensor | None = None) -> float:
    """Share of training entries where ``L_ORD`` follows the teacher (paper Table 3).

    It depends only on the teacher, the targets and ``alpha1``, not on the student.
    """
    used, total = 0.0, 0
    teacher.eval()
    for x, y in batches:
        x, y = x.to(edge_index.device), y.to(edge_index.device)
        y_t = teacher(x, edge_index, edge_weight)[:, 0, :, 0]
        _, share = Fd.overseen_response(y_t, y_t, y[:, 0], alpha1, return_share=True)
        used += float(share) * y_t.numel()
        total += y_t.numel()
    return used / max(total, 1)
