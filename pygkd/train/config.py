"""Run configuration: what a recipe file holds, validated with errors that name the key.

A recipe is YAML with ``seed``, ``data``, ``model`` and ``train`` sections::

    seed: 0
    data: {name: los-loop, root: ../shared/data, split: 5/1/1}
    model: {preset: teacher}
    train: {epochs: 30, batch_size: 50, lr: 1.0e-3, optimizer: rmsprop}

Command-line flags and ``--set section.key=value`` override recipe values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Type, TypeVar

import yaml

from pygkd.errors import InputError
from pygkd.nn.models.stgcn import PRESETS

__all__ = ["DataConfig", "ModelConfig", "TrainConfig", "DistillConfig", "PruneConfig",
           "RunConfig",
           "DISTILL_LOSSES", "load_recipe",
           "apply_overrides", "parse_blocks"]

T = TypeVar("T")


@dataclass
class DataConfig:
    """Which dataset and how to split it (``options`` go to the loader: ``sigma2``, ...)."""

    name: str = "synthetic"
    root: Optional[str] = None
    split: Optional[str] = None
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """STGCN shape: a preset name or explicit ``blocks``; explicit blocks win."""

    preset: Optional[str] = "teacher"
    blocks: Optional[List[List[int]]] = None
    kernel_size: int = 3
    K: int = 3
    dropout: float = 0.0


@dataclass
class TrainConfig:
    """Optimisation (paper Sec. 4.2: next-step loss, LR x0.7 every 5 epochs, batch 50).

    ``latency_batch`` / ``latency_repeats``: the short latency check written to
    ``metrics.json`` after training (3 timed forward passes; ``pygkd bench`` measures
    properly). ``precision``: ``32``, ``bf16`` or ``16-mixed``; ``compile``: wrap the trained
    model in ``torch.compile``.
    """

    epochs: int = 30
    batch_size: int = 50
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    lr_decay: float = 0.7
    lr_step: int = 5
    patience: int = 10
    eval_batch_size: int = 200
    latency_batch: int = 1140
    latency_repeats: int = 3
    max_batches: Optional[int] = None
    precision: str = "32"
    compile: bool = False

    def validate(self) -> "TrainConfig":
        checks = [
            ("epochs", self.epochs >= 1, "a whole number >= 1"),
            ("batch_size", self.batch_size >= 1, "a whole number >= 1"),
            ("lr", self.lr > 0, "a positive learning rate"),
            ("optimizer", self.optimizer in ("adam", "rmsprop"), "'adam' or 'rmsprop'"),
            ("lr_decay", 0 < self.lr_decay <= 1, "a factor in (0, 1]"),
            ("lr_step", self.lr_step >= 1, "a whole number >= 1"),
            ("patience", self.patience >= 1, "a whole number >= 1"),
            ("precision", str(self.precision) in ("32", "bf16", "16-mixed"),
             "'32', 'bf16' or '16-mixed'"),
            ("compile", isinstance(self.compile, bool), "true or false"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise InputError(f"train.{key}: expected {expected} (got {getattr(self, key)!r})")
        return self


#: Loss names accepted by ``pygkd distill --loss`` (``none`` = student W/O KD).
DISTILL_LOSSES = ("none", "rd-l2", "rd-kl", "skd", "ord", "tcd", "scd", "stcd")


@dataclass
class DistillConfig:
    """Distillation: the loss and its hyper-parameters (defaults: paper Table 6, PeMSD7).

    ``tcd`` and ``scd`` are the ablations of Table 5: ``L_ORD`` plus ``alpha3`` times the one
    feature loss (``L_STCD`` with ``alpha2`` = 0 or 1). ``cache_gb`` is the memory budget for
    caching the frozen teacher's outputs and distances per training window (0: no cache).
    ``scd_nodes``: nodes sampled per batch for ``L_SCD`` on large graphs (``null``: exact up to
    1,000 nodes, 256 beyond; ``0``: always exact; ``M >= N`` is exact).
    """

    loss: str = "stcd"
    teacher: Optional[str] = None
    alpha1: float = 0.170
    alpha2: float = 0.047
    alpha3: float = 0.313
    alpha: float = 0.333
    beta: float = 0.045
    tau: float = 1.0
    cache_gb: float = 6.0
    scd_nodes: Optional[int] = None

    def validate(self, where: str = "distill") -> "DistillConfig":
        if self.loss not in DISTILL_LOSSES:
            raise InputError(
                f"{where}.loss: unknown {self.loss!r} (choose from: {', '.join(DISTILL_LOSSES)})"
            )
        for key in ("alpha1", "alpha2", "alpha3", "alpha", "beta"):
            value = getattr(self, key)
            if not 0.0 <= float(value) <= 1.0:
                raise InputError(f"{where}.{key}: expected a value in [0, 1] (got {value})")
        if self.tau <= 0:
            raise InputError(f"{where}.tau: expected a temperature > 0 (got {self.tau})")
        if self.cache_gb < 0:
            raise InputError(f"{where}.cache_gb: expected a budget >= 0 GiB (got {self.cache_gb})")
        if self.scd_nodes is not None:
            if isinstance(self.scd_nodes, bool) or not isinstance(self.scd_nodes, int) \
                    or self.scd_nodes < 0 or self.scd_nodes == 1:
                raise InputError(f"{where}.scd_nodes: expected 0 (exact), a sample size >= 2, "
                                 f"or null for the default (got {self.scd_nodes!r})")
        return self


@dataclass
class PruneConfig:
    """Algorithm 1 settings. ``method``: ``kd`` (scores from ``L_STCD``, the paper's KDIS) or
    ``taylor`` (scores from the task loss, Molchanov et al.); ``mode``: ``structured``
    (channels, exports a smaller STGCN) or ``unstructured`` (per-weight masks).

    Every ``pruning_minibatch`` steps the lowest ``step_share`` of what remains in each hidden
    layer is pruned, until ``target`` of the parameters is gone; then ``finetune_epochs`` of
    fine-tuning with the same loss. The last step can pass ``target`` (it removes a share of
    what remains); with ``exact_target`` it is shrunk to the smallest share that reaches it.
    """

    method: str = "kd"
    mode: str = "structured"
    target: float = 0.97
    step_share: float = 0.1
    pruning_minibatch: int = 10
    finetune_epochs: int = 10
    max_epochs: int = 100
    exact_target: bool = False

    def validate(self, where: str = "prune") -> "PruneConfig":
        checks = [
            ("method", self.method in ("kd", "taylor"), "'kd' or 'taylor'"),
            ("mode", self.mode in ("structured", "unstructured"), "'structured' or 'unstructured'"),
            ("target", 0.0 < float(self.target) < 1.0, "a share in (0, 1)"),
            ("step_share", 0.0 < float(self.step_share) <= 1.0, "a share in (0, 1]"),
            ("pruning_minibatch", self.pruning_minibatch >= 1, "a whole number >= 1"),
            ("finetune_epochs", self.finetune_epochs >= 0, "a whole number >= 0"),
            ("max_epochs", self.max_epochs >= 1, "a whole number >= 1"),
            ("exact_target", isinstance(self.exact_target, bool), "true or false"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise InputError(f"{where}.{key}: expected {expected} (got {getattr(self, key)!r})")
        return self


@dataclass
class RunConfig:
    """A whole run: seed, device, data, model, training and (for ``distill``) distillation
    settings. ``device`` is ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N``
    or ``mps``."""

    seed: int = 0
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Dict[str, Any], source: str = "recipe") -> "RunConfig":
        if not isinstance(raw, dict):
            raise InputError(f"{source}: expected a mapping with seed/data/model/train")
        _check_keys(raw, {"seed", "device", "data", "model", "train", "distill", "prune"},
                    source)
        config = cls(
            seed=int(raw.get("seed", 0)),
            device=str(raw.get("device") or "auto"),
            data=_build(DataConfig, raw.get("data") or {}, f"{source}: data"),
            model=_build(ModelConfig, raw.get("model") or {}, f"{source}: model"),
            train=_build(TrainConfig, raw.get("train") or {}, f"{source}: train"),
            distill=_build(DistillConfig, raw.get("distill") or {}, f"{source}: distill"),
            prune=_build(PruneConfig, raw.get("prune") or {}, f"{source}: prune"),
        )
        config.distill.validate(f"{source}: distill")
        config.prune.validate(f"{source}: prune")
        if config.model.blocks is not None:
            config.model.blocks = parse_blocks(config.model.blocks, f"{source}: model.blocks")
        elif config.model.preset not in PRESETS:
            raise InputError(
                f"{source}: model.preset: unknown {config.model.preset!r} "
                f"(choose from: {', '.join(PRESETS)})"
            )
        config.train.validate()
        return config


def _check_keys(raw: Dict[str, Any], allowed: set, where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown} "
                         f"(choose from: {', '.join(sorted(allowed))})")


def _build(cls: Type[T], raw: Dict[str, Any], where: str) -> T:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a mapping (got {raw!r})")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    _check_keys(raw, set(fields), where)
    values = {}
    for key, value in raw.items():
        default = getattr(cls(), key)
        if isinstance(default, bool) or value is None:
            values[key] = value
        elif isinstance(default, (int, float)) and not isinstance(value, (int, float)):
            try:
                values[key] = type(default)(value)
            except (TypeError, ValueError):
                raise InputError(
                    f"{where}.{key}: expected a {type(default).__name__} (got {value!r})"
                ) from None
        else:
            values[key] = value
    return cls(**values)


def parse_blocks(value: Any, option: str = "--blocks") -> List[List[int]]:
    """Blocks from ``"1,2,4;4,2,8"`` or a nested list.

    Example:
        >>> parse_blocks("1,2,4;4,2,8")
        [[1, 2, 4], [4, 2, 8]]
    """
    try:
        if isinstance(value, str):
            blocks = [[int(c) for c in part.split(",")]
                      for part in value.split(";") if part.strip()]
        else:
            blocks = [[int(c) for c in b] for b in value]
    except (TypeError, ValueError):
        blocks = []
    if not blocks or any(len(b) != 3 or min(b) < 1 for b in blocks):
        raise InputError(
            f"{option}: expected blocks as 'c_in,c_t,c_out;c_in,c_t,c_out' with positive "
            f"channels, e.g. '1,2,4;4,2,8' (got {value!r})"
        )
    return blocks


def apply_overrides(raw: Dict[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """Apply ``section.key=value`` strings (values parsed as YAML) to a raw recipe dict.

    Example:
        >>> apply_overrides({"train": {"epochs": 30}}, ["train.epochs=2", "seed=3"])
        {'train': {'epochs': 2}, 'seed': 3}
    """
    for item in overrides:
        if "=" not in item:
            raise InputError(f"--set: expected KEY=VALUE like 'train.epochs=5' (got {item!r})")
        key, text = item.split("=", 1)
        node = raw
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(f"--set: {key!r} does not name a recipe section")
        node[parts[-1]] = yaml.safe_load(text)
    return raw


def load_recipe(path: Optional[Path], overrides: Sequence[str] = ()) -> RunConfig:
    """Read a recipe YAML file (or defaults when ``path`` is None) and apply overrides."""
    raw: Dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: recipe file not found")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise InputError(f"{path}: not valid YAML ({err})") from None
    return RunConfig.from_dict(apply_overrides(raw, overrides), str(path or "recipe"))
