"""One frozen teacher's term of the distillation loss (paper Sec. 3.2): its layer pairs with
the student, its targets (output, temporal and spatial distances, features; cached per
training window when they fit), and the loss of the registry applied to them.

:class:`TeacherTerm` is the building block of :class:`~pygkd.distill.Distiller` (one term per
teacher, weighted); :class:`~pygkd.distill.DistillObjective` adapts a distiller to the
trainer's step loss.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from pygkd.distill import functional as Fd
from pygkd.distill.hooks import FeatureCapture
from pygkd.runtime.distributed import unwrap_model
from pygkd.train.config import DistillConfig

logger = logging.getLogger(__name__)

#: Beyond this many nodes the default ``L_SCD`` always samples :data:`DEFAULT_SCD_SAMPLE` nodes
#: per batch. Exact ``L_SCD`` keeps a ``[B, T, N, N]`` residual for its backward pass: at B=50
#: and T=8 that is 1.6 GB per spatial layer at N=1,000 and grows with N^2 (6.4 GB at 2,000),
#: while at 228 nodes 64 sampled nodes already give gradients with a median cosine of about
#: 0.99 to the exact ones.
SCD_EXACT_MAX_NODES = 1000
#: Nodes sampled per batch for ``L_SCD`` beyond :data:`SCD_EXACT_MAX_NODES` nodes.
DEFAULT_SCD_SAMPLE = 256
#: Up to :data:`SCD_EXACT_MAX_NODES` nodes the default ``L_SCD`` is exact while it costs at most
#: this many W/O KD steps (so a distillation step stays within about 2x a W/O KD step), and
#: otherwise samples the nodes that keep it at that cost (the cost grows with nodes^2).
SCD_COST_BUDGET = 1.0
#: The fewest nodes the default rule samples.
MIN_SCD_SAMPLE = 32

__all__ = ["TeacherTerm", "TeacherCache", "freeze", "pair_by_depth", "common_steps",
           "scd_sample_size", "scd_cost_ratio", "SCD_EXACT_MAX_NODES", "DEFAULT_SCD_SAMPLE",
           "SCD_COST_BUDGET", "MIN_SCD_SAMPLE"]


def scd_sample_size(num_nodes: int, scd_nodes: int | None,
                    cost_ratio: float | None = None) -> int | None:
    """Nodes per batch for ``L_SCD``: ``None`` (exact) or a sample size.

    ``scd_nodes=None`` is the default rule: beyond :data:`SCD_EXACT_MAX_NODES` nodes,
    :data:`DEFAULT_SCD_SAMPLE`; otherwise exact while ``cost_ratio`` (the exact loss's forward
    and backward time over a W/O KD step's, see :func:`scd_cost_ratio`; ``None``: not
    measured) is at most :data:`SCD_COST_BUDGET`, else the sample whose cost is within the
    budget: ``N * sqrt(budget / cost_ratio)`` nodes rounded down to a power of two (so that
    timing noise rarely changes it between runs), at least :data:`MIN_SCD_SAMPLE`. ``0`` forces
    the exact loss; ``M >= N`` is exact too.

    Example:
        >>> scd_sample_size(207, None), scd_sample_size(8600, None), scd_sample_size(207, 64)
        (None, 256, 64)
        >>> scd_sample_size(675, None, cost_ratio=0.8), scd_sample_size(675, None, cost_ratio=25.0)
        (None, 128)
    """
    if scd_nodes is None:
        if num_nodes > SCD_EXACT_MAX_NODES:
            return DEFAULT_SCD_SAMPLE
        if cost_ratio is None or cost_ratio <= SCD_COST_BUDGET:
            return None
        size = math.floor(num_nodes * math.sqrt(SCD_COST_BUDGET / cost_ratio))
        size = max(MIN_SCD_SAMPLE, 2 ** int(math.log2(max(size, 1))))
        return None if size >= num_nodes else size
    if scd_nodes == 0 or scd_nodes >= num_nodes:
        return None
    return int(scd_nodes)


def _seconds(call: Callable[[], Any], repeats: int = 2) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def scd_cost_ratio(student: nn.Module, x: Tensor, y: Tensor, edge_index: Tensor,
                   edge_weight: Tensor | None, spatial: Sequence[tuple[Tensor, Tensor]],
                   distances: bool) -> float:
    """Seconds of the exact ``L_SCD`` (Eq. 9-10) forward and backward on these spatial pairs
    over the seconds of a W/O KD step (the student's forward and backward of the task loss)
    on the same batch, both measured here (best of two; ``.grad`` is left untouched).

    Args:
        student: the student (unwrapped); x ``[B, T, N, C]``, y ``[B, H, N]``: the batch.
        spatial: ``(student features [B, T, N, C_s], teacher features or distances)`` pairs.
        distances: the teacher targets are distances ``[B, T, N, N]`` (cached).
    """
    params = [p for p in student.parameters() if p.requires_grad]
    was_training = student.training

    def task_step() -> None:
        pred = student(x, edge_index, edge_weight)[:, 0, :, 0]
        torch.autograd.grad(torch.mean((pred - y[:, 0]) ** 2), params, allow_unused=True)

    feats = [(s.detach().requires_grad_(), t.detach()) for s, t in spatial]

    def scd_step() -> None:
        total = sum(Fd.spatial_correlation(s, teacher_distances=t) if distances
                    else Fd.spatial_correlation(s, t) for s, t in feats)
        torch.autograd.grad(total, [s for s, _ in feats])  # type: ignore[arg-type]

    student.eval()  # no running statistics updated, no random numbers drawn
    try:
        return _seconds(scd_step) / max(_seconds(task_step), 1e-9)
    finally:
        student.train(was_training)


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no gradients: the teacher is never updated."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _pairs(student: nn.Module, teacher: nn.Module, attr: str,
           given: Sequence[tuple[str, str]] | None) -> list[tuple[str, str]]:
    if given is not None:
        return [tuple(p) for p in given]  # type: ignore[misc]
    s_names, t_names = getattr(student, attr, None), getattr(teacher, attr, None)
    if s_names is None or t_names is None:
        raise ValueError(f"Name the layer pairs: the models do not expose '{attr}'")
    return pair_by_depth(list(s_names), list(t_names))


def pair_by_depth(student: Sequence[str], teacher: Sequence[str]) -> list[tuple[str, str]]:
    """Pair feature layers of models of different depths: student layer ``i`` of ``L_s`` with
    the teacher layer at the same relative depth, ``ceil((i + 1) * L_t / L_s) - 1`` (the last
    with the last; equal depths pair by position).

    Example:
        >>> pair_by_depth(["h"], ["t1", "t2", "t3", "t4"])
        [('h', 't4')]
        >>> pair_by_depth(["a", "b"], ["t1", "t2", "t3", "t4"])
        [('a', 't2'), ('b', 't4')]
    """
    if not student or not teacher:
        raise ValueError("Expected feature layers on both models (got none on one side)")
    ls, lt = len(student), len(teacher)
    return [(s, teacher[-(-(i + 1) * lt // ls) - 1]) for i, s in enumerate(student)]


def common_steps(student: Tensor, teacher: Tensor, time_dim: int = 1) -> tuple[Tensor, Tensor]:
    """Both tensors cut to their common last steps along ``time_dim`` (models of other
    families keep other numbers of steps: an STGCN layer ``T - 2(K_t - 1)``, a recurrent
    model all ``T``); the last steps are the ones nearest the forecast.

    Example:
        >>> a, b = common_steps(torch.zeros(2, 12, 3, 4), torch.zeros(2, 8, 3, 5))
        >>> a.shape[1], b.shape[1]
        (8, 8)
    """
    steps = min(student.size(time_dim), teacher.size(time_dim))
    return (student.narrow(time_dim, student.size(time_dim) - steps, steps),
            teacher.narrow(time_dim, teacher.size(time_dim) - steps, steps))


def _align_steps(kind: str, student: Tensor, teacher: Tensor) -> tuple[Tensor, Tensor]:
    """Student features ``[B, T_s, N, C]`` and the teacher's target for them (temporal
    distances ``[B, N, T_t, T_t]``, else ``[B, T_t, ...]``) on their common last steps."""
    t_steps = teacher.size(-1) if kind == "t" else teacher.size(1)
    steps = min(student.size(1), t_steps)
    student = student[:, student.size(1) - steps:]
    cut = t_steps - steps
    teacher = teacher[..., cut:, cut:] if kind == "t" else teacher[:, cut:]
    return student, teacher


class TeacherCache:
    """What the frozen teacher gives for each training window, computed once and reused.

    Per window: the teacher's next-step output ``[N]``, its temporal distances ``TCD^t``
    ``[N, T_l, T_l]`` per temporal layer, per spatial layer either its distances ``SCD^t``
    ``[T_l, N, N]`` or, when those would not fit the budget, its features ``[T_l, N, C]``, and
    for ``L_SKD`` the hidden features ``[T_l, N, C]`` of the last block. Entries are filled the
    first time a window is seen (the first epoch pays the teacher's cost once); later epochs
    only gather them. The cache is exact: the same teacher forward pass and distances, stored in
    float32 (float64 for a float64 teacher) on the training device. Window indices are CPU
    tensors. Under DDP each process keeps its own cache of the windows it sees.
    """

    def __init__(self, num_windows: int, shapes: dict[str, tuple[int, ...]],
                 device: torch.device | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.store = {k: torch.zeros((num_windows, *shape), device=self.device, dtype=dtype)
                      for k, shape in shapes.items()}
        self.filled = torch.zeros(num_windows, dtype=torch.bool)

    @staticmethod
    def nbytes(num_windows: int, shapes: dict[str, tuple[int, ...]], itemsize: int = 4) -> int:
        per = sum(math.prod(shape) for shape in shapes.values())
        return itemsize * num_windows * per

    def missing(self, index: Tensor) -> Tensor:
        return ~self.filled[index.cpu()]

    def put(self, index: Tensor, values: dict[str, Tensor]) -> None:
        where = index.to(self.device)
        for key, value in values.items():
            store = self.store[key]
            store[where] = value.detach().to(store.dtype)
        self.filled[index.cpu()] = True

    def get(self, index: Tensor) -> dict[str, Tensor]:
        where = index.to(self.device)
        return {k: v[where] for k, v in self.store.items()}


class TeacherTerm:
    """One teacher's loss of one batch for ``config.loss`` (``none, rd-l2, rd-kl, skd, ord,
    tcd, scd, stcd`` or a registered loss).

    Args:
        teacher (nn.Module): frozen here.
        config (DistillConfig): loss name and hyper-parameters (``scd_nodes``: nodes sampled
            per batch for ``L_SCD``, see :func:`scd_sample_size`).
        edge_index (Tensor), edge_weight (Tensor): the graph, passed to both models.
        temporal_pairs, spatial_pairs (sequence of (student, teacher) layer names, optional):
            default: the models' ``temporal_layer_names`` / ``spatial_layer_names`` by position.
        hidden_pair ((student, teacher), optional): layers for ``L_SKD`` (default: the models'
            ``hidden_layer_name``, the last ST-Conv block).
        num_windows (int, optional): training windows; with ``cache_gb > 0`` the teacher's
            outputs and distances are cached per window (:class:`TeacherCache`) when they fit.
        cache_gb (float): memory budget of that cache in GiB; 0 disables it (default: ``6``).
        seed (int): seeds the node sample of the sampled ``L_SCD`` (with the step number set by
            :meth:`set_step`, so resumed and multi-process runs draw the same nodes).

    ``__call__(student, x [B, T, N, C], y [B, H, N], index [B])`` returns ``(loss, logs)``;
    the logs hold each part and, for the ORD-based losses, ``teacher_share``. ``student`` may be
    wrapped by DDP or ``torch.compile``: layers are looked up in the module inside. Call
    :meth:`to` to move the teacher and graph to the training device.
    """

    def __init__(self, teacher: nn.Module, config: DistillConfig, edge_index: Tensor,
                 edge_weight: Tensor | None = None,
                 temporal_pairs: Sequence[tuple[str, str]] | None = None,
                 spatial_pairs: Sequence[tuple[str, str]] | None = None,
                 hidden_pair: tuple[str, str] | None = None,
                 num_windows: int | None = None, cache_gb: float = 6.0,
                 seed: int = 0) -> None:
        from pygkd.distill.registry import check_loss

        self.config = config.validate()
        self.spec = check_loss(self.config.loss)
        self.teacher = freeze(teacher)
        #: the loss of :data:`pygkd.distill.registry.LOSSES` (an ``nn.Module``)
        self.criterion: Any = self.spec.build(self.config)
        self.edge_index, self.edge_weight = edge_index, edge_weight
        self._temporal_pairs, self._spatial_pairs = temporal_pairs, spatial_pairs
        self._hidden_pair = hidden_pair
        self.num_windows, self.cache_gb = num_windows, cache_gb
        self.cache: TeacherCache | None = None
        self._cache_decided = False
        #: how spatial teacher targets are kept: "distances" [T, N, N] or "features" [T, N, C]
        self.spatial_targets = "features"
        self.seed, self.step = seed, 0
        #: nodes sampled per batch for ``L_SCD`` (``None``: exact), decided on the first
        #: training batch (:func:`scd_sample_size`); saved by :meth:`state_dict`
        self.scd_sample: int | None | str = "undecided"
        #: after each call: the weighted terms whose sum is the loss (the criterion's, and
        #: ``match`` with ``config.mixup``), for the gradient diagnostics
        self.terms: dict[str, Tensor] = {}

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run must reuse: the ``L_SCD`` sampling decision and the loss's
        learned parts (a FitNets adapter)."""
        return {"scd_sample": self.scd_sample, "criterion": self.criterion.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scd_sample = state.get("scd_sample", "undecided")
        if state.get("criterion"):
            self.criterion.load_state_dict(state["criterion"])

    def to(self, device: torch.device) -> TeacherTerm:
        """Move the teacher and the graph to ``device`` (and cache the teacher's graph
        operator there, for models that support it)."""
        from pygkd.train.trainer import place_model

        self.edge_index = self.edge_index.to(device)
        if self.edge_weight is not None:
            self.edge_weight = self.edge_weight.to(device)
        self.teacher = place_model(self.teacher, device, self.edge_index, self.edge_weight)
        self.criterion.to(device)
        return self

    def set_step(self, step: int) -> None:
        """The global training step about to run (seeds that step's node sample and mix)."""
        self.step = int(step)

    def mixed_windows(self, x: Tensor) -> Tensor:
        """``x [B, T, N, C]`` mixed window by window with a shuffled copy of itself
        (:func:`~pygkd.distill.functional.mix_windows`; weights from Beta(``mixup_alpha``,
        ``mixup_alpha``)), drawn from the seed and the step (:meth:`set_step`), so a resumed
        run draws the same mixes."""
        import numpy as np

        rng = np.random.default_rng([self.seed, self.step, 0x6D6978])
        lam = rng.beta(self.config.mixup_alpha, self.config.mixup_alpha, size=x.size(0))
        partner = rng.permutation(x.size(0))
        return Fd.mix_windows(x, torch.from_numpy(lam), torch.from_numpy(partner))

    def _decide_scd(self, student: nn.Module, x: Tensor, y: Tensor,
                    pairs: list[tuple[str, str, str]], teach: dict[str, Tensor],
                    distances: bool) -> None:
        """The default rule of :func:`scd_sample_size` for this run, decided once (on the first
        training batch, before its forward pass: pruning masks may rewrite weights in place
        at every forward; rank 0's decision under ``torch.distributed``) and logged."""
        num_nodes = x.size(2)
        if self.config.scd_nodes is not None or num_nodes > SCD_EXACT_MAX_NODES:
            self.scd_sample = scd_sample_size(num_nodes, self.config.scd_nodes)
            return
        spatial_pairs = [(s, t) for kind, s, t in pairs if kind == "s"]
        was_training = student.training
        student.eval()  # no random numbers drawn, no running statistics updated
        try:
            with torch.no_grad(), FeatureCapture(student, [s for s, _ in spatial_pairs]) as cap:
                student(x, self.edge_index, self.edge_weight)
        finally:
            student.train(was_training)
        spatial = [_align_steps("s", cap.features[s], teach[t]) for s, t in spatial_pairs]
        ratio = scd_cost_ratio(student, x, y, self.edge_index, self.edge_weight, spatial,
                               distances)
        size = scd_sample_size(num_nodes, None, ratio)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            shared = torch.tensor([size or 0], device=x.device)
            torch.distributed.broadcast(shared, 0)
            size = int(shared) or None
        self.scd_sample = size
        if size is not None:
            logger.info(f"L_SCD: exact on {num_nodes} nodes would cost {ratio:.1f}x a W/O KD "
                        f"step; sampling {size} nodes per batch instead (not in the paper; "
                        "--scd-nodes 0 forces the exact loss, --scd-nodes M another sample)")

    def _scd_nodes(self, num_nodes: int, device: torch.device) -> Tensor | None:
        size = scd_sample_size(num_nodes, self.config.scd_nodes) \
            if isinstance(self.scd_sample, str) else self.scd_sample
        if size is None:
            return None
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.step)
        return Fd.sample_nodes(num_nodes, size, generator, device)

    def _cache_shapes(self, x: Tensor, pairs: list[tuple[str, str, str]], spatial: str
                      ) -> dict[str, tuple[int, ...]]:
        """Shapes per window, from one teacher pass on one window."""
        with torch.no_grad(), FeatureCapture(self.teacher, [p[2] for p in pairs]) as cap:
            self.teacher(x[:1], self.edge_index, self.edge_weight)
        shapes: dict[str, tuple[int, ...]] = {"y": (x.size(2),)}
        for kind, _, t_name in pairs:
            _, steps, nodes, channels = cap.features[t_name].shape
            s_shape = (steps, nodes, nodes) if spatial == "distances" else (steps, nodes, channels)
            shapes[t_name] = {"t": (nodes, steps, steps), "s": s_shape,
                              "h": (steps, nodes, channels)}[kind]
        return shapes

    def _decide_cache(self, x: Tensor, pairs: list[tuple[str, str, str]]) -> None:
        """Cache spatial distances if they fit ``cache_gb``, else features, else nothing."""
        self._cache_decided = True
        if self.num_windows is None or self.cache_gb <= 0 or self.config.loss == "none":
            return
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        itemsize = torch.finfo(dtype).bits // 8
        need = 0
        for spatial in ("distances", "features"):
            shapes = self._cache_shapes(x, pairs, spatial)
            need = TeacherCache.nbytes(self.num_windows, shapes, itemsize)
            if need <= self.cache_gb * 2**30:
                self.cache = TeacherCache(self.num_windows, shapes, x.device, dtype)
                self.spatial_targets = spatial
                what = "distances" if spatial == "distances" else "features"
                logger.info(f"caching the teacher's outputs and {what}: {need / 2**30:.2f} GiB")
                return
            if not any(kind == "s" for kind, _, _ in pairs):
                break
        logger.info(f"teacher cache would need {need / 2**30:.1f} GiB (budget {self.cache_gb} "
                    "GiB): computing the teacher on the fly")

    def teacher_targets(self, x: Tensor, pairs: list[tuple[str, str, str]],
                         spatial: str) -> dict[str, Tensor]:
        """Teacher output and, per hooked layer, its distances (spatial layers: distances or
        features, by ``spatial``; raw features for SKD), in float32 or float64."""
        with torch.no_grad(), FeatureCapture(self.teacher, [p[2] for p in pairs]) as cap:
            out = {"y": self.teacher(x, self.edge_index, self.edge_weight)[:, 0, :, 0]}
            for kind, _, t_name in pairs:
                feat = cap.features[t_name]
                feat = feat if feat.dtype == torch.float64 else feat.float()
                if kind in ("t", "s") and self.config.normalize_features:
                    feat = Fd.scale_free(feat)
                if kind == "t":
                    out[t_name] = Fd.pairwise_l1(feat.transpose(1, 2))
                elif kind == "s" and spatial == "distances":
                    out[t_name] = Fd.pairwise_l1(feat)
                else:
                    out[t_name] = feat
        return out

    def layer_pairs(self, student: nn.Module) -> list[tuple[str, str, str]]:
        """(kind, student layer, teacher layer) for the features this loss reads."""
        needs = self.spec.features
        out: list[tuple[str, str, str]] = []
        if "temporal" in needs:
            out += [("t", s, t) for s, t in _pairs(student, self.teacher,
                                                   "temporal_layer_names", self._temporal_pairs)]
        if "spatial" in needs:
            out += [("s", s, t) for s, t in _pairs(student, self.teacher,
                                                   "spatial_layer_names", self._spatial_pairs)]
        if "hidden" in needs:
            pair = self._hidden_pair or (str(student.hidden_layer_name),
                                         str(self.teacher.hidden_layer_name))
            out.append(("h", pair[0], pair[1]))
        return out

    def __call__(self, student: nn.Module, x: Tensor, y: Tensor,
                 index: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        target = y[:, 0]
        if not self.spec.uses_teacher:  # student W/O KD: the teacher is not needed
            pred = student(x, self.edge_index, self.edge_weight)[:, 0, :, 0]
            loss = self.criterion(pred, None, target)
            self.terms = dict(getattr(self.criterion, "terms", {}) or {})
            return loss, {}
        inner = unwrap_model(student)
        pairs = self.layer_pairs(inner)
        if not self._cache_decided and index is not None:
            self._decide_cache(x, pairs)
        if self.cache is not None and index is not None:
            todo = self.cache.missing(index)
            if bool(todo.any()):
                self.cache.put(index[todo], self.teacher_targets(
                    x[todo.to(x.device)], pairs, self.spatial_targets))
            teach = self.cache.get(index)
            spatial = self.spatial_targets
        else:
            spatial = "features"  # never [B, T, N, N] teacher distances on the fly
            teach = self.teacher_targets(x, pairs, spatial)
        if self.scd_sample == "undecided" and student.training and \
                any(kind == "s" for kind, _, _ in pairs):  # before the student's forward
            self._decide_scd(inner, x, y, pairs, teach, spatial == "distances")
        batch = x.size(0)
        mixed = self.mixed_windows(x) if self.config.mixup > 0 and student.training and \
            torch.is_grad_enabled() else None
        # the mixed windows go through the student in the same forward pass as the batch (one
        # pass, so DDP and hooks see one call); the features compared are the batch's
        inputs = x if mixed is None else torch.cat([x, mixed])
        with FeatureCapture(inner, [p[1] for p in pairs]) as s_cap:
            y_all = student(inputs, self.edge_index, self.edge_weight)[:, 0, :, 0]
        y_s = y_all[:batch]
        y_t = teach["y"].to(y_s.dtype)
        features = {name: [_align_steps(kind, s_cap.features[s][:batch], teach[t])
                           for k, s, t in pairs if k == kind]
                    for kind, name in (("t", "temporal"), ("s", "spatial"), ("h", "hidden"))}
        distances = ["temporal"] + (["spatial"] if spatial == "distances" else [])
        nodes = self._scd_nodes(x.size(2), x.device) if features["spatial"] else None
        loss = self.criterion(y_s, y_t, target, features, distances=distances, nodes=nodes)
        parts = dict(self.criterion.parts)
        self.terms = dict(getattr(self.criterion, "terms", {}) or {})
        if mixed is not None:
            with torch.no_grad():
                y_tm = self.teacher(mixed, self.edge_index, self.edge_weight)[:, 0, :, 0]
            match = Fd.function_matching(y_all[batch:], y_tm.to(y_s.dtype))
            share = self.config.mixup
            loss = (1 - share) * loss + share * match
            self.terms = {**{k: (1 - share) * v for k, v in self.terms.items()},
                          "match": share * match}
            parts["match"] = float(match.detach())
        return loss, parts
