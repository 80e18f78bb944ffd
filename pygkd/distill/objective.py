"""The distillation objective of one training batch: frozen teacher, hooked features, the
chosen loss (SPEC section 4).

:class:`DistillObjective` is a :data:`~pygkd.train.trainer.StepLoss`: the trainer calls it with
``(student, x, y)`` and back-propagates the returned loss.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from pygkd.distill import functional as Fd
from pygkd.distill.hooks import FeatureCapture
from pygkd.train.config import DistillConfig

__all__ = ["DistillObjective", "TeacherCache", "freeze", "teacher_share"]


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no gradients: the teacher is never updated."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _pairs(student: nn.Module, teacher: nn.Module, attr: str,
           given: Optional[Sequence[Tuple[str, str]]]) -> List[Tuple[str, str]]:
    if given is not None:
        return [tuple(p) for p in given]  # type: ignore[misc]
    s_names, t_names = getattr(student, attr, None), getattr(teacher, attr, None)
    if s_names is None or t_names is None:
        raise ValueError(f"Name the layer pairs: the models do not expose '{attr}'")
    if len(s_names) != len(t_names):
        raise ValueError(
            f"Student and teacher have {len(s_names)} and {len(t_names)} layers in '{attr}'; "
            "give an explicit pairing"
        )
    return list(zip(s_names, t_names))


class TeacherCache:
    """What the frozen teacher gives for each training window, computed once and reused.

    Per window: the teacher's next-step output ``[N]``, its temporal distances ``TCD^t``
    ``[N, T_l, T_l]`` per temporal layer, spatial distances ``SCD^t`` ``[T_l, N, N]`` per
    spatial layer, and for ``L_SKD`` the hidden features ``[T_l, N, C]`` of the last block. Entries are filled the first time a window is seen (the first epoch pays
    the teacher's cost once); later epochs only gather them. The cache is exact: the same
    teacher forward pass and distances, stored in float32.
    """

    def __init__(self, num_windows: int, shapes: Dict[str, Tuple[int, ...]]) -> None:
        self.store = {k: torch.zeros((num_windows, *shape)) for k, shape in shapes.items()}
        self.filled = torch.zeros(num_windows, dtype=torch.bool)

    @staticmethod
    def nbytes(num_windows: int, shapes: Dict[str, Tuple[int, ...]]) -> int:
        per = sum(int(torch.tensor(shape).prod()) if shape else 1 for shape in shapes.values())
        return 4 * num_windows * per

    def missing(self, index: Tensor) -> Tensor:
        return ~self.filled[index]

    def put(self, index: Tensor, values: Dict[str, Tensor]) -> None:
        for key, value in values.items():
            self.store[key][index] = value.detach().float()
        self.filled[index] = True

    def get(self, index: Tensor) -> Dict[str, Tensor]:
        return {k: v[index] for k, v in self.store.items()}


class DistillObjective:
    """Loss of one batch for ``config.loss`` in ``none, rd-l2, rd-kl, skd, ord, tcd, scd, stcd``.

    Args:
        teacher (nn.Module): frozen here.
        config (DistillConfig): loss name and hyper-parameters.
        edge_index (Tensor), edge_weight (Tensor): the graph, passed to both models.
        temporal_pairs, spatial_pairs (sequence of (student, teacher) layer names, optional):
            default: the models' ``temporal_layer_names`` / ``spatial_layer_names`` by position.
        hidden_pair ((student, teacher), optional): layers for ``L_SKD`` (default: the models'
            ``hidden_layer_name``, the last ST-Conv block).
        num_windows (int, optional): training windows; with ``cache_gb > 0`` the teacher's
            outputs and distances are cached per window (:class:`TeacherCache`) when they fit.
        cache_gb (float): memory budget of that cache in GiB; 0 disables it (default: ``6``).

    ``__call__(student, x [B, T, N, C], y [B, H, N])`` returns ``(loss, logs)``; the logs hold
    each part and, for the ORD-based losses, ``teacher_share``.
    """

    def __init__(self, teacher: nn.Module, config: DistillConfig, edge_index: Tensor,
                 edge_weight: Optional[Tensor] = None,
                 temporal_pairs: Optional[Sequence[Tuple[str, str]]] = None,
                 spatial_pairs: Optional[Sequence[Tuple[str, str]]] = None,
                 hidden_pair: Optional[Tuple[str, str]] = None,
                 num_windows: Optional[int] = None, cache_gb: float = 6.0) -> None:
        self.teacher = freeze(teacher)
        self.config = config.validate()
        self.edge_index, self.edge_weight = edge_index, edge_weight
        self._temporal_pairs, self._spatial_pairs = temporal_pairs, spatial_pairs
        self._hidden_pair = hidden_pair
        self.num_windows, self.cache_gb = num_windows, cache_gb
        self.cache: Optional[TeacherCache] = None
        self._cache_decided = False
        self.log: Callable[[str], None] = lambda message: None

    def _cache_shapes(self, x: Tensor, pairs: List[Tuple[str, str, str]]) -> Dict[str, Tuple[int, ...]]:
        """Shapes per window, from one teacher pass on one window."""
        with torch.no_grad(), FeatureCapture(self.teacher, [p[2] for p in pairs]) as cap:
            self.teacher(x[:1], self.edge_index, self.edge_weight)
        shapes: Dict[str, Tuple[int, ...]] = {"y": (x.size(2),)}
        for kind, _, t_name in pairs:
            _, steps, nodes, channels = cap.features[t_name].shape
            shapes[t_name] = {"t": (nodes, steps, steps), "s": (steps, nodes, nodes),
                              "h": (steps, nodes, channels)}[kind]
        return shapes

    def _decide_cache(self, x: Tensor, pairs: List[Tuple[str, str, str]]) -> None:
        self._cache_decided = True
        if self.num_windows is None or self.cache_gb <= 0 or self.config.loss == "none":
            return
        shapes = self._cache_shapes(x, pairs)
        need = TeacherCache.nbytes(self.num_windows, shapes)
        if need <= self.cache_gb * 2**30:
            self.cache = TeacherCache(self.num_windows, shapes)
            self.log(f"caching the teacher's outputs and distances: {need / 2**30:.2f} GiB")
        else:
            self.log(f"teacher cache would need {need / 2**30:.1f} GiB (budget {self.cache_gb} "
                     "GiB): computing the teacher on the fly")

    def _teacher_targets(self, x: Tensor, pairs: List[Tuple[str, str, str]]) -> Dict[str, Tensor]:
        """Teacher output and, per hooked layer, its distances (or raw features for SKD)."""
        with torch.no_grad(), FeatureCapture(self.teacher, [p[2] for p in pairs]) as cap:
            out = {"y": self.teacher(x, self.edge_index, self.edge_weight)[:, 0, :, 0]}
            for kind, _, t_name in pairs:
                feat = cap.features[t_name]
                if kind == "t":
                    out[t_name] = Fd.pairwise_l1(feat.transpose(1, 2))
                elif kind == "s":
                    out[t_name] = Fd.pairwise_l1(feat)
                else:
                    out[t_name] = feat
        return out

    def _layer_pairs(self, student: nn.Module) -> List[Tuple[str, str, str]]:
        """(kind, student layer, teacher layer) for the features this loss reads."""
        loss = self.config.loss
        out: List[Tuple[str, str, str]] = []
        if loss in ("tcd", "stcd"):
            out += [("t", s, t) for s, t in _pairs(student, self.teacher,
                                                   "temporal_layer_names", self._temporal_pairs)]
        if loss in ("scd", "stcd"):
            out += [("s", s, t) for s, t in _pairs(student, self.teacher,
                                                   "spatial_layer_names", self._spatial_pairs)]
        if loss == "skd":
            pair = self._hidden_pair or (student.hidden_layer_name, self.teacher.hidden_layer_name)
            out.append(("h", pair[0], pair[1]))
        return out

    def __call__(self, student: nn.Module, x: Tensor, y: Tensor,
                 index: Optional[Tensor] = None) -> Tuple[Tensor, Dict[str, float]]:
        cfg = self.config
        target = y[:, 0]
        if cfg.loss == "none":  # student W/O KD: the teacher is not needed
            pred = student(x, self.edge_index, self.edge_weight)[:, 0, :, 0]
            return torch.mean((pred - target) ** 2), {}
        pairs = self._layer_pairs(student)
        if not self._cache_decided and index is not None:
            self._decide_cache(x, pairs)
        if self.cache is not None and index is not None:
            todo = self.cache.missing(index)
            if bool(todo.any()):
                self.cache.put(index[todo], self._teacher_targets(x[todo], pairs))
            teach = self.cache.get(index)
        else:
            teach = self._teacher_targets(x, pairs)
        y_t = teach["y"]
        with FeatureCapture(student, [p[1] for p in pairs]) as s_cap:
            y_s = student(x, self.edge_index, self.edge_weight)[:, 0, :, 0]
        logs: Dict[str, float] = {}
        if cfg.loss == "rd-l2":
            return Fd.response_l2(y_s, y_t, target, cfg.beta), logs
        if cfg.loss == "rd-kl":
            return Fd.response_kl(y_s, y_t, target, cfg.beta, cfg.tau), logs
        feats = {kind: [(s_cap.features[s], teach[t]) for k, s, t in pairs if k == kind]
                 for kind in ("t", "s", "h")}
        if cfg.loss == "skd":
            h_s, h_t = feats["h"][0]
            return Fd.structural_kd(h_s, h_t, y_s, target, cfg.alpha), logs
        ord_loss, share = Fd.overseen_response(y_s, y_t, target, cfg.alpha1)
        logs["ord"], logs["teacher_share"] = float(ord_loss.detach()), float(share)
        if cfg.loss == "ord":
            return ord_loss, logs
        zero = y_s.new_zeros(())
        tcd = torch.stack([Fd.temporal_correlation(a, teacher_distances=d)
                           for a, d in feats["t"]]).mean() if feats["t"] else zero
        scd = torch.stack([Fd.spatial_correlation(a, teacher_distances=d)
                           for a, d in feats["s"]]).mean() if feats["s"] else zero
        if feats["t"]:
            logs["tcd"] = float(tcd.detach())
        if feats["s"]:
            logs["scd"] = float(scd.detach())
        alpha2 = {"tcd": 0.0, "scd": 1.0}.get(cfg.loss, cfg.alpha2)
        return Fd.spatio_temporal_correlation(ord_loss, scd, tcd, alpha2, cfg.alpha3), logs


@torch.no_grad()
def teacher_share(teacher: nn.Module, batches, alpha1: float,  # type: ignore[no-untyped-def]
                  edge_index: Tensor, edge_weight: Optional[Tensor] = None) -> float:
    """Share of training entries where ``L_ORD`` follows the teacher (paper Table 3).

    It depends only on the teacher, the targets and ``alpha1``, not on the student.
    """
    used, total = 0.0, 0
    teacher.eval()
    for x, y in batches:
        y_t = teacher(x, edge_index, edge_weight)[:, 0, :, 0]
        _, share = Fd.overseen_response(y_t, y_t, y[:, 0], alpha1)
        used += float(share) * y_t.numel()
        total += y_t.numel()
    return used / max(total, 1)
