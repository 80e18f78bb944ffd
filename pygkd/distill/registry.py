r"""The distillation losses by name: what each reads and how it is built.

One entry per loss (``pygkd distill --loss NAME``): its table label, the hyper-parameters it
reads from the ``distill`` recipe section (and which of them ``pygkd tune`` searches), the
features it needs from both models (``temporal``, ``spatial``, ``hidden``), and a builder of
its criterion. A criterion is an ``nn.Module`` called as

``criterion(y_s [B, N], y_t [B, N], target [B, N], features) -> loss`` (a scalar tensor)

where ``features`` maps ``"temporal"`` / ``"spatial"`` / ``"hidden"`` to a list of
``(student features [B, T, N, C_s], teacher target)`` pairs; the teacher target is its
features, or for ``temporal`` / ``spatial`` pairs marked in ``distances`` its precomputed
distances. After each call ``criterion.parts`` holds the logged parts (``ord``, ``tcd``,
``scd``, ``teacher_share``). The criteria are built from the modules of
:mod:`pygkd.distill.losses`.

Example:
    >>> list(LOSSES)
    ['none', 'rd-l2', 'rd-kl', 'skd', 'fitnet', 'ord', 'tcd', 'scd', 'stcd']
    >>> LOSSES["stcd"].features, LOSSES["stcd"].tuned
    (('temporal', 'spatial'), ('alpha1', 'alpha2', 'alpha3'))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from pygkd.distill import functional as Fd
from pygkd.distill.losses import (
    OverseenResponseLoss,
    ResponseKLLoss,
    ResponseL2Loss,
    SpatialCorrelationLoss,
    StructuralKDLoss,
    TemporalCorrelationLoss,
)
from pygkd.errors import InputError

__all__ = ["LossSpec", "LOSSES", "loss_names", "register_loss", "load_loss_plugins", "check_loss",
           "ENTRY_POINT_GROUP", "FeaturePairs", "TaskCriterion",
           "ResponseCriterion", "StructuralCriterion", "HintCriterion", "CorrelationCriterion",
           "CombinedCriterion", "combined_spec", "RESPONSE_TERMS", "PAPER_LOSSES"]

logger = logging.getLogger(__name__)

#: kind -> [(student features, teacher features or distances)]
FeaturePairs = dict[str, list[tuple[Tensor, Tensor]]]


class _Criterion(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.parts: dict[str, float] = {}
        #: after each call: the weighted terms whose sum is the loss (``task``, ``rd``,
        #: ``skd``, ``ord``, ``tcd``, ``scd``), with their graphs, for gradient diagnostics
        self.terms: dict[str, Tensor] = {}


class TaskCriterion(_Criterion):
    """No distillation: the task loss :math:`(y^s - T)^2` (the student W/O KD)."""

    def forward(self, y_s: Tensor, y_t: Tensor | None, target: Tensor,
                features: FeaturePairs | None = None, **kwargs: Any) -> Tensor:
        loss = torch.mean((y_s - target) ** 2)
        self.terms = {"task": loss}
        return loss


class ResponseCriterion(_Criterion):
    """A response loss (``L_RD(L2)`` Eq. 3, ``L_RD(KL)`` Eq. 1-2) on the outputs only."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, y_s: Tensor, y_t: Tensor, target: Tensor,
                features: FeaturePairs | None = None, **kwargs: Any) -> Tensor:
        loss = self.loss(y_s, y_t, target)
        self.terms = {"rd": loss}
        return loss


class StructuralCriterion(_Criterion):
    """``L_SKD`` (Bian et al. 2021) on the ``hidden`` features; its terms are the weighted
    task loss ``task`` and the weighted graph matching ``skd``."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.loss = StructuralKDLoss(alpha)

    def forward(self, y_s: Tensor, y_t: Tensor, target: Tensor,
                features: FeaturePairs | None = None, **kwargs: Any) -> Tensor:
        h_s, h_t = (features or {})["hidden"][0]
        loss = self.loss(h_s, h_t, y_s, target)
        task = (1 - self.loss.alpha) * torch.mean((y_s - target) ** 2).to(loss.dtype)
        self.terms = {"task": task, "skd": loss - task}
        return loss


class HintCriterion(_Criterion):
    r"""FitNets hint (Romero et al. 2015; not in the paper) on the ``hidden`` features:
    :math:`(1-\gamma)\,\overline{(y^s - T)^2} + \gamma\,\overline{(W h^s - h^t)^2}`, where
    :math:`W` is a learned ``C_s -> C_t`` projection of the student's channels (a 1x1
    convolution in the channel-last layout, :attr:`adapter`), trained with the student. Raw
    features of different widths are only comparable through it (the relational losses
    ``L_TCD`` / ``L_SCD`` / ``L_SKD`` are width-free and need none).

    The adapter is made on the first call, when the widths are known: run one batch through
    the loss (``Distiller.prepare``) before building the optimiser over
    ``distiller.parameters()``. It is part of the criterion's ``state_dict`` (saved in the
    run's ``last.pt``), never of the student's, so an exported model leaves it out.
    """

    def __init__(self, gamma: float) -> None:
        super().__init__()
        self.gamma = Fd.check_unit("gamma", gamma)
        self.adapter: nn.Linear | None = None

    def forward(self, y_s: Tensor, y_t: Tensor, target: Tensor,
                features: FeaturePairs | None = None, **kwargs: Any) -> Tensor:
        h_s, h_t = (features or {})["hidden"][0]
        if self.adapter is None:
            with torch.random.fork_rng(devices=[]):  # the same start in every run
                torch.manual_seed(0)
                self.adapter = nn.Linear(h_s.size(-1), h_t.size(-1), device=h_s.device,
                                         dtype=h_s.dtype)
        hint = torch.mean((self.adapter(h_s) - h_t.detach().to(h_s.dtype)) ** 2)
        task = torch.mean((y_s - target) ** 2)
        self.parts = {"hint": float(hint.detach())}
        self.terms = {"task": (1 - self.gamma) * task, "hint": self.gamma * hint}
        return self.terms["task"] + self.terms["hint"]

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"


class CorrelationCriterion(_Criterion):
    r""":math:`L_{ORD} + \alpha_3(\alpha_2 L_{SCD} + (1 - \alpha_2) L_{TCD})` (Eq. 11), with each
    feature loss averaged over its layer pairs. ``L_ORD`` alone (Eq. 4-6) is ``alpha3 = 0``
    without features; the ablations ``L_TCD`` / ``L_SCD`` of Table 5 fix ``alpha2`` at 0 / 1.
    """

    def __init__(self, alpha1: float, alpha2: float = 0.0, alpha3: float = 0.0,
                 normalize: bool = False) -> None:
        super().__init__()
        self.normalize = bool(normalize)
        self.ord = OverseenResponseLoss(alpha1)
        self.tcd = TemporalCorrelationLoss()
        self.scd = SpatialCorrelationLoss()
        self.alpha2, self.alpha3 = float(alpha2), float(alpha3)

    def forward(self, y_s: Tensor, y_t: Tensor, target: Tensor,
                features: FeaturePairs | None = None, distances: Sequence[str] = (),
                nodes: Tensor | None = None) -> Tensor:
        features = features or {}
        loss = self.ord(y_s, y_t, target)
        self.parts = {"ord": float(loss.detach()),
                      "teacher_share": float(self.ord.teacher_share)}  # type: ignore[arg-type]
        zero = loss.new_zeros(())
        pairs_t, pairs_s = features.get("temporal", []), features.get("spatial", [])
        if self.normalize:  # teacher distances come scale-free from the teacher term
            pairs_t = [(Fd.scale_free(s), t if "temporal" in distances else Fd.scale_free(t))
                       for s, t in pairs_t]
            pairs_s = [(Fd.scale_free(s), t if "spatial" in distances else Fd.scale_free(t))
                       for s, t in pairs_s]
        tcd = torch.stack([
            self.tcd(s, teacher_distances=t) if "temporal" in distances else self.tcd(s, t)
            for s, t in pairs_t]).mean() if pairs_t else zero
        scd = torch.stack([
            self.scd(s, teacher_distances=t, nodes=nodes) if "spatial" in distances
            else self.scd(s, t, nodes=nodes) for s, t in pairs_s]).mean() if pairs_s else zero
        if pairs_t:
            self.parts["tcd"] = float(tcd.detach())
        if pairs_s:
            self.parts["scd"] = float(scd.detach())
        self.terms = {"ord": loss}
        if not (pairs_t or pairs_s):
            return loss
        dtype = torch.promote_types(loss.dtype, torch.float32)  # float64 stays float64
        weighted_t = self.alpha3 * (1 - self.alpha2) * tcd.to(dtype)
        weighted_s = self.alpha3 * self.alpha2 * scd.to(dtype)
        if pairs_t:
            self.terms["tcd"] = weighted_t
        if pairs_s:
            self.terms["scd"] = weighted_s
        return loss.to(dtype) + self.alpha3 * (self.alpha2 * scd.to(dtype)
                                               + (1 - self.alpha2) * tcd.to(dtype))

    def extra_repr(self) -> str:
        return f"alpha2={self.alpha2}, alpha3={self.alpha3}" + \
            (", normalize=True" if self.normalize else "")


@dataclass(frozen=True)
class LossSpec:
    """One distillation loss of the registry."""

    label: str  #: row label of comparison tables
    build: Callable[[Any], nn.Module]  #: the criterion from a ``DistillConfig``
    hyperparameters: tuple[str, ...] = ()  #: ``distill`` keys it reads
    tuned: tuple[str, ...] = ()  #: the ones ``pygkd tune`` searches
    features: tuple[str, ...] = ()  #: ``temporal`` / ``spatial`` / ``hidden``
    uses_teacher: bool = True
    equation: str = ""


#: Name (``--loss``) -> specification, in the paper's order.
LOSSES: dict[str, LossSpec] = {
    "none": LossSpec("Student W/O KD", lambda c: TaskCriterion(), uses_teacher=False,
                     equation="task loss only"),
    "rd-l2": LossSpec("Student L_RD(L2)", lambda c: ResponseCriterion(ResponseL2Loss(c.beta)),
                      ("beta",), ("beta",), equation="Eq. 3"),
    "rd-kl": LossSpec("Student L_RD(KL)",
                      lambda c: ResponseCriterion(ResponseKLLoss(c.beta, c.tau)),
                      ("beta", "tau"), ("beta",), equation="Eq. 1-2"),
    "skd": LossSpec("Student L_SKD", lambda c: StructuralCriterion(c.alpha), ("alpha",),
                    ("alpha",), ("hidden",), equation="Bian et al. 2021"),
    "fitnet": LossSpec("Student FitNets hint", lambda c: HintCriterion(c.gamma), ("gamma",),
                       ("gamma",), ("hidden",), equation="Romero et al. 2015"),
    "ord": LossSpec("Student L_ORD", lambda c: CorrelationCriterion(c.alpha1), ("alpha1",),
                    ("alpha1",), equation="Eq. 4-6"),
    "tcd": LossSpec("Student L_TCD",
                    lambda c: CorrelationCriterion(c.alpha1, 0.0, c.alpha3, c.normalize_features),
                    ("alpha1", "alpha3", "normalize_features"), ("alpha1", "alpha3"),
                    ("temporal",), equation="Eq. 4-8 (Table 5)"),
    "scd": LossSpec("Student L_SCD",
                    lambda c: CorrelationCriterion(c.alpha1, 1.0, c.alpha3, c.normalize_features),
                    ("alpha1", "alpha3", "normalize_features"), ("alpha1", "alpha3"),
                    ("spatial",), equation="Eq. 4-6, 9-10 (Table 5)"),
    "stcd": LossSpec("Student L_STCD",
                     lambda c: CorrelationCriterion(c.alpha1, c.alpha2, c.alpha3,
                                                    c.normalize_features),
                     ("alpha1", "alpha2", "alpha3", "normalize_features"),
                     ("alpha1", "alpha2", "alpha3"),
                     ("temporal", "spatial"), equation="Eq. 11"),
}


#: The losses of the paper's Tables 2, 4 and 5 (W/O KD and the baselines included): what
#: ``pygkd compare distill`` runs by default.
PAPER_LOSSES = ("none", "rd-l2", "rd-kl", "skd", "ord", "tcd", "scd", "stcd")

#: The terms that stand for the response (the loss on the outputs), in order of precedence: a
#: combination keeps one of them (see :class:`CombinedCriterion`).
RESPONSE_TERMS = ("ord", "rd", "task")


class CombinedCriterion(_Criterion):
    r"""Several registry losses as one (``--loss skd+tcd``): the response term counted once
    and every part's feature terms added, each with its own weight.

    The response term is the first in :data:`RESPONSE_TERMS` that a part reports: ``L_ORD``
    (Eq. 4-6), else ``L_RD`` (Eq. 1-3), else the task loss; e.g. ``skd+tcd`` is
    :math:`L_{ORD} + \alpha L_{GM} + \alpha_3 L_{TCD}`. Each part sees only the features it
    reads. Every part must report its weighted terms (``criterion.terms``) after a call.
    """

    def __init__(self, parts: dict[str, tuple[nn.Module, Sequence[str]]]) -> None:
        super().__init__()
        self.parts_ = nn.ModuleDict({name.replace("-", "_"): c for name, (c, _) in parts.items()})
        self.names = list(parts)
        self.kinds = {name: tuple(kinds) for name, (_, kinds) in parts.items()}

    def forward(self, y_s: Tensor, y_t: Tensor, target: Tensor,
                features: FeaturePairs | None = None, distances: Sequence[str] = (),
                nodes: Tensor | None = None) -> Tensor:
        features = features or {}
        reported: list[tuple[str, dict[str, Tensor]]] = []
        self.parts = {}
        for name, criterion in zip(self.names, self.parts_.values(), strict=True):
            own = {k: v for k, v in features.items() if k in self.kinds[name]}
            criterion(y_s, y_t, target, own, distances=distances, nodes=nodes)
            terms = getattr(criterion, "terms", None)
            if not terms:
                raise InputError(f"--loss {'+'.join(self.names)}: {name!r} does not report its "
                                 "terms (criterion.terms), so it cannot be combined")
            reported.append((name, dict(terms)))
            self.parts.update(getattr(criterion, "parts", {}) or {})
        response = next(((k, terms[k]) for k in RESPONSE_TERMS for _, terms in reported
                         if k in terms), None)
        self.terms = {} if response is None else {response[0]: response[1]}
        for _, terms in reported:
            for key, term in terms.items():
                if key not in RESPONSE_TERMS:
                    self.terms[key] = self.terms[key] + term if key in self.terms else term
        values = list(self.terms.values())
        dtype = values[0].dtype
        for term in values[1:]:
            dtype = torch.promote_types(dtype, term.dtype)
        return torch.stack([t.to(dtype) for t in values]).sum()

    def extra_repr(self) -> str:
        return "+".join(self.names)


def combined_spec(name: str) -> LossSpec:
    """The registry entry of a combination ``a+b[+c...]`` of registered losses (see
    :class:`CombinedCriterion`): the union of their hyper-parameters and features.

    Example:
        >>> spec = combined_spec("skd+tcd")
        >>> spec.label, spec.tuned, spec.features
        ('Student L_SKD + L_TCD', ('alpha', 'alpha1', 'alpha3'), ('hidden', 'temporal'))
    """
    names = [n.strip() for n in name.split("+")]
    where = f"distill.loss {name!r}"
    if len(names) < 2 or not all(names):
        raise InputError(f"{where}: expected registered losses joined by '+', e.g. skd+tcd")
    if len(set(names)) < len(names):
        raise InputError(f"{where}: a loss appears twice")
    specs = {n: check_loss(n) for n in names}
    if "none" in specs:
        raise InputError(f"{where}: 'none' adds no term; combine distillation losses only")
    response_only = [n for n, s in specs.items() if not s.features]
    uses_ord = [n for n, s in specs.items() if "alpha1" in s.hyperparameters]
    if len(response_only) > 1 or (response_only and uses_ord and response_only[0] not in uses_ord):
        raise InputError(f"{where}: {', '.join(response_only)} add(s) only a response term, and "
                         "a combination counts one response term (L_ORD when a part uses it, "
                         "else L_RD); combine one response loss with feature losses")

    def union(field: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for s in specs.values() for v in getattr(s, field)))

    return LossSpec(
        "Student " + " + ".join(s.label.removeprefix("Student ") for s in specs.values()),
        lambda c: CombinedCriterion({n: (s.build(c), s.features) for n, s in specs.items()}),
        union("hyperparameters"), union("tuned"), union("features"),
        any(s.uses_teacher for s in specs.values()),
        " + ".join(s.equation for s in specs.values() if s.equation))


#: The entry point group through which other packages add losses.
ENTRY_POINT_GROUP = "pygkd.losses"


def register_loss(name: str, build: Callable[[Any], nn.Module] | LossSpec | None = None, *,
                  label: str | None = None, hyperparameters: Sequence[str] = (),
                  tuned: Sequence[str] = (), features: Sequence[str] = (),
                  uses_teacher: bool = True, equation: str = "") -> Any:
    """Add a distillation loss to :data:`LOSSES` as ``name`` (``pygkd distill --loss NAME``).

    ``build(config)`` makes the criterion (an ``nn.Module`` called as
    ``criterion(y_s, y_t, target, features, distances=(), nodes=None)``, see the module text)
    from a :class:`~pygkd.train.DistillConfig`; ``features`` names what it reads
    (``temporal``, ``spatial``, ``hidden``), ``hyperparameters`` the ``distill`` keys it uses.
    Usable as ``register_loss("mine", build)``, ``register_loss("mine", spec)`` or as a
    decorator ``@register_loss("mine", features=("temporal",))`` on the builder. Another
    package adds losses on install through the ``pygkd.losses`` entry point group, whose
    value is a :class:`LossSpec`, a builder, or a module that calls this function.

    Example:
        >>> @register_loss("mse-doc", label="Student MSE to teacher")
        ... def build(config):
        ...     return ResponseCriterion(ResponseL2Loss(1.0))
        >>> "mse-doc" in loss_names(), LOSSES["mse-doc"].label
        (True, 'Student MSE to teacher')
        >>> del LOSSES["mse-doc"]
    """
    key = str(name).strip().lower()
    if not key or "+" in key or "," in key:
        raise InputError(f"register_loss: {name!r} is not a usable loss name")

    def add(builder: Callable[[Any], nn.Module] | LossSpec) -> Any:
        spec = builder if isinstance(builder, LossSpec) else LossSpec(
            label or f"Student {key}", builder, tuple(hyperparameters), tuple(tuned),
            tuple(features), uses_teacher, equation)
        old = LOSSES.get(key)
        if old is not None and old is not spec and old.build is not spec.build:
            raise InputError(f"register_loss: {key!r} is already registered")
        LOSSES[key] = spec
        return builder

    return add if build is None else add(build)


def load_loss_plugins() -> dict[str, LossSpec]:
    """Add the losses other packages declare in the ``pygkd.losses`` entry point group and
    return :data:`LOSSES` (the built-ins first, in the paper's order)."""
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        key = point.name.lower()
        if key in LOSSES:
            continue
        try:
            loaded = point.load()
        except Exception as err:  # noqa: BLE001 - a broken plug-in is named, not fatal
            logger.warning(f"loss plug-in {point.name!r} ({point.value}) did not load: "
                           f"{type(err).__name__}: {err}")
            continue
        if key not in LOSSES and (isinstance(loaded, LossSpec) or callable(loaded)):
            register_loss(key, loaded)
    return LOSSES


def check_loss(name: str, where: str = "distill") -> LossSpec:
    """The registry entry of ``name`` (a registered loss, or a combination ``a+b`` of them,
    see :func:`combined_spec`); a one-line error listing the names otherwise.

    Example:
        >>> check_loss("stcd").equation
        'Eq. 11'
    """
    if "+" in str(name):
        return combined_spec(str(name))
    spec = LOSSES.get(name) or load_loss_plugins().get(name)
    if spec is None:
        raise InputError(f"{where}.loss: unknown {name!r} (choose from: "
                         f"{', '.join(loss_names())})")
    return spec


def loss_names() -> tuple[str, ...]:
    """The registered loss names (built-ins in the paper's order, then plug-ins)."""
    return tuple(load_loss_plugins())
