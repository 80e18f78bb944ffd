"""Graph knowledge distillation: feature hooks and the paper's losses (Sec. 3.2)."""

import torch  # noqa: F401  (doctests)

from pygkd.distill.distiller import Distiller
from pygkd.distill.functional import (
    overseen_response,
    pairwise_euclidean,
    pairwise_l1,
    response_kl,
    response_l2,
    spatial_correlation,
    spatio_temporal_correlation,
    structural_kd,
    temporal_correlation,
)
from pygkd.distill.hooks import FeatureCapture, get_submodule_or_raise
from pygkd.distill.losses import (
    OverseenResponseLoss,
    ResponseKLLoss,
    ResponseL2Loss,
    SpatialCorrelationLoss,
    StructuralKDLoss,
    TemporalCorrelationLoss,
)
from pygkd.distill.objective import DistillObjective, MultiTeacherObjective, teacher_share
from pygkd.distill.registry import LOSSES, loss_names, register_loss
from pygkd.distill.teacher import TeacherTerm, freeze

__all__ = [
    "LOSSES",
    "DistillObjective",
    "Distiller",
    "FeatureCapture",
    "MultiTeacherObjective",
    "OverseenResponseLoss",
    "ResponseKLLoss",
    "ResponseL2Loss",
    "SpatialCorrelationLoss",
    "StructuralKDLoss",
    "TeacherTerm",
    "TemporalCorrelationLoss",
    "freeze",
    "get_submodule_or_raise",
    "loss_names",
    "overseen_response",
    "pairwise_euclidean",
    "pairwise_l1",
    "register_loss",
    "response_kl",
    "response_l2",
    "spatial_correlation",
    "spatio_temporal_correlation",
    "structural_kd",
    "teacher_share",
    "temporal_correlation",
]
classes = __all__
