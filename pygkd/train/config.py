"""Run configuration: what a recipe file holds, validated with errors that name the key.

A recipe is YAML with ``seed``, ``data``, ``model`` and ``train`` sections::

    seed: 0
    data: {name: los-loop, root: data, split: 5/1/1}
    model: {preset: teacher}
    train: {epochs: 30, batch_size: 50, lr: 1.0e-3, optimizer: rmsprop}

Command-line flags and ``--set section.key=value`` override recipe values.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from pygkd.errors import InputError
from pygkd.nn.models.stgcn import PRESETS
from pygkd.train.recipes import yaml_value

__all__ = ["DataConfig", "ModelConfig", "TrainConfig", "DistillConfig", "PruneConfig",
           "RunConfig",
           "load_recipe",
           "apply_overrides", "parse_blocks", "config_changes"]

T = TypeVar("T")

# Constrained field types: recipes are validated by pydantic (strict: 1.5 or true is not an
# integer, "3" is not a number), with one-line errors naming the key, what was expected and
# what was given.
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Share = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
PrecisionName = Annotated[Literal["32", "bf16", "16-mixed"], BeforeValidator(
    lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v)]


@dataclass
class DataConfig:
    """Which dataset, how to split it and cut it into windows (``options`` go to the loader:
    ``sigma2``, ...).

    ``in_steps`` / ``out_steps``: window lengths (the paper: 12 in, 9 out); ``horizons``: the
    output steps evaluated (default: 3 / 6 / 9 where they fit, else up to three evenly spaced
    steps ending at ``out_steps``); ``missing``: ``zero`` / ``nan`` / ``none`` (default:
    ``zero``, the paper's, for traffic speeds); ``step``: the sampling step of your own data
    (``5min``, ``7D``; wins over timestamps); ``inputs``: extra input channels besides the
    forecast quantity (``time-of-day``, ``day-of-week``, PEMS08's ``flow`` / ``occupancy``;
    :mod:`pygkd.data.inputs`)."""

    name: str = "synthetic"
    root: str | None = None
    split: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    in_steps: PositiveInt = 12
    out_steps: PositiveInt = 9
    horizons: list[PositiveInt] | None = None
    missing: Literal["zero", "nan", "none"] | None = None
    step: str | None = None
    inputs: list[str] = field(default_factory=list)


@dataclass
class ModelConfig:
    """The model: ``name`` is its family in the zoo (``stgcn``, ``gconvgru``, ``tgcn``,
    ``a3tgcn``, ``dcrnn``, ``stconv``). STGCN's shape is a ``preset`` or explicit ``blocks``
    (explicit blocks win); the other families take ``hidden`` channels (and ``layers`` for
    ``stconv``). ``K`` is the graph filter size, ``kernel_size`` the temporal kernel."""

    name: str = "stgcn"
    preset: str | None = "teacher"
    blocks: list[list[int]] | None = None
    kernel_size: PositiveInt = 3
    K: PositiveInt = 3
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    hidden: PositiveInt | None = None
    layers: PositiveInt | None = None


@dataclass
class TrainConfig:
    """Optimisation (paper Sec. 4.2: next-step loss, LR x0.7 every 5 epochs, batch 50).

    ``latency_batch`` / ``latency_repeats``: the short latency check written to
    ``metrics.json`` after training (3 timed forward passes; ``pygkd bench`` measures
    properly). ``precision``: ``32``, ``bf16`` or ``16-mixed``; ``compile``: wrap the trained
    model in ``torch.compile``.
    """

    epochs: PositiveInt = 30
    batch_size: PositiveInt = 50
    lr: PositiveFloat = 1e-3
    optimizer: Literal["adam", "rmsprop"] = "adam"
    weight_decay: NonNegativeFloat = 0.0
    lr_decay: Annotated[float, Field(gt=0.0, le=1.0)] = 0.7
    lr_step: PositiveInt = 5
    patience: PositiveInt = 10
    eval_batch_size: PositiveInt = 200
    latency_batch: PositiveInt = 1140
    latency_repeats: PositiveInt = 3
    max_batches: PositiveInt | None = None
    precision: PrecisionName = "32"
    compile: bool = False

    def validate(self, where: str = "train") -> TrainConfig:
        """This configuration checked (an :class:`InputError` names the bad key)."""
        return validated(TrainConfig, asdict(self), where)


@dataclass
class DistillConfig:
    """Distillation: the loss and its hyper-parameters (defaults: paper Table 6, PeMSD7).

    ``tcd`` and ``scd`` are the ablations of Table 5: ``L_ORD`` plus ``alpha3`` times the one
    feature loss (``L_STCD`` with ``alpha2`` = 0 or 1). ``cache_gb`` is the memory budget for
    caching the frozen teacher's outputs and distances per training window (0: no cache).
    ``teacher_weights``: with several teachers (``pygkd distill --teacher a.pt --teacher b.pt``),
    the weight of each one's loss (default: equal; they are normalised to sum to 1).
    ``scd_nodes``: nodes sampled per batch for ``L_SCD`` (``null``: exact while it costs at most
    a W/O KD step, measured on the first batch, else sampled; 256 beyond 1,000 nodes; ``0``:
    always exact; ``M >= N`` is exact). ``normalize_features``: ``L_TCD`` / ``L_SCD`` compare
    the distances of features divided by their standard deviation per window (scale-free; not
    in the paper), so narrow or bounded student features (a GRU's hidden state) are compared
    by their relations, not their scale. ``gamma``: the weight of the FitNets hint
    (``--loss fitnet``). ``mixup``: the weight of function matching (not in the paper;
    Beyer et al. 2022): every training batch is also mixed window by window with a shuffled
    copy of itself (weights drawn from Beta(``mixup_alpha``, ``mixup_alpha``)), and the
    student's output on the mixed windows is pulled to the teacher's, so the teacher labels
    inputs beyond the training windows; the loss is ``(1 - mixup)`` times the chosen loss plus
    ``mixup`` times that term (0: off; ignored without a teacher).
    """

    loss: str = "stcd"
    teacher: str | None = None
    teachers: list[str] | None = None
    teacher_weights: list[NonNegativeFloat] | None = None
    alpha1: Share = 0.170
    alpha2: Share = 0.047
    alpha3: Share = 0.313
    alpha: Share = 0.333
    gamma: Share = 0.5
    beta: Share = 0.045
    tau: PositiveFloat = 1.0
    cache_gb: NonNegativeFloat = 6.0
    scd_nodes: NonNegativeInt | None = None
    normalize_features: bool = False
    mixup: Share = 0.0
    mixup_alpha: PositiveFloat = 1.0

    def validate(self, where: str = "distill") -> DistillConfig:
        """This configuration checked (an :class:`InputError` names the bad key)."""
        checked = validated(DistillConfig, asdict(self), where)
        if not str(checked.loss).strip():
            raise InputError(f"{where}.loss: expected a loss name (got {self.loss!r})")
        # the name itself is checked against the loss registry by the distillation package
        # (pygkd.distill.registry.check_loss): this layer does not import it
        self = checked
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

    method: Literal["kd", "taylor"] = "kd"
    mode: Literal["structured", "unstructured"] = "structured"
    target: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.97
    step_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    pruning_minibatch: PositiveInt = 10
    finetune_epochs: NonNegativeInt = 10
    max_epochs: PositiveInt = 100
    exact_target: bool = False

    def validate(self, where: str = "prune") -> PruneConfig:
        """This configuration checked (an :class:`InputError` names the bad key)."""
        return validated(PruneConfig, asdict(self), where)


@dataclass
class RunConfig:
    """A whole run: seed, device, data, model, training and (for ``distill``) distillation
    settings. ``device`` is ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N``
    or ``mps``."""

    seed: NonNegativeInt = 0
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "recipe") -> RunConfig:
        if not isinstance(raw, dict):
            raise InputError(f"{source}: expected a mapping with seed/data/model/train")
        _check_keys(raw, {"seed", "device", "data", "model", "train", "distill", "prune"},
                    source)
        top = validated(_TopLevel, {"seed": raw.get("seed", 0),
                                    "device": raw.get("device") or "auto"}, f"{source}:")
        config = cls(
            seed=top.seed,
            device=top.device,
            data=_build(DataConfig, raw.get("data") or {}, f"{source}: data"),
            model=_build(ModelConfig, raw.get("model") or {}, f"{source}: model"),
            train=_build(TrainConfig, raw.get("train") or {}, f"{source}: train"),
            distill=_build(DistillConfig, raw.get("distill") or {}, f"{source}: distill"),
            prune=_build(PruneConfig, raw.get("prune") or {}, f"{source}: prune"),
        )
        config.distill.validate(f"{source}: distill")
        config.prune.validate(f"{source}: prune")
        from pygkd.nn.models.registry import MODELS

        config.model.name = str(config.model.name).lower()
        if config.model.name not in MODELS:
            raise InputError(f"{source}: model.name: unknown {config.model.name!r} (choose "
                             f"from: {', '.join(sorted(MODELS))})")
        _check_family_options(config.model, source)
        if config.model.name != "stgcn":
            pass
        elif config.model.blocks is not None:
            config.model.blocks = parse_blocks(config.model.blocks, f"{source}: model.blocks")
        elif config.model.preset not in PRESETS:
            raise InputError(
                f"{source}: model.preset: unknown {config.model.preset!r} "
                f"(choose from: {', '.join(PRESETS)})"
            )
        return config


def _check_family_options(model: ModelConfig, source: str) -> None:
    """Options the chosen family does not read are an error, not silently dropped."""
    name = model.name
    if name != "stgcn" and model.blocks is not None:
        raise InputError(f"{source}: model.blocks (--blocks) is STGCN's shape, not used by "
                         f"{name}; give its size with model.hidden (--hidden)")
    if name == "stgcn" and model.hidden is not None:
        raise InputError(f"{source}: model.hidden (--hidden) is not used by stgcn, whose size "
                         "is model.preset or model.blocks (--preset, --blocks)")
    if name != "stconv" and model.layers is not None:
        raise InputError(f"{source}: model.layers (--layers) is only used by stconv, not "
                         f"{name}")


@dataclass
class _TopLevel:
    seed: NonNegativeInt = 0
    device: str = "auto"


def _check_keys(raw: dict[str, Any], allowed: set, where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown} "
                         f"(choose from: {', '.join(sorted(allowed))})")


def _build(cls: type[T], raw: dict[str, Any], where: str) -> T:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a mapping (got {raw!r})")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    _check_keys(raw, set(fields), where)
    return validated(cls, raw, where)


def validated(cls: type[T], raw: dict[str, Any], where: str) -> T:
    """``cls(**raw)`` checked against its field types and bounds by pydantic (strict types,
    ints accepted for floats); the first problem becomes a one-line :class:`InputError`.

    Example:
        >>> validated(TrainConfig, {"epochs": 1.5}, "recipe: train")
        Traceback (most recent call last):
        ...
        pygkd.errors.InputError: recipe: train.epochs: expected a whole number (got 1.5)
    """
    hints = typing.get_type_hints(cls, include_extras=True)
    values = {}
    for key, value in raw.items():
        try:
            values[key] = _adapter(hints[key]).validate_python(value)
        except ValidationError as err:
            message = _expected(err.errors(include_url=False)[0])
            name = f"{where} {key}" if where.endswith(":") else f"{where}.{key}"
            raise InputError(f"{name}: {message} (got {value!r})") from None
    return cls(**values)


#: pydantic error types -> what the user should give.
_EXPECTED = {
    "greater_than_equal": "a value >= {ge}", "greater_than": "a value > {gt}",
    "less_than_equal": "a value <= {le}", "less_than": "a value < {lt}",
    "int_type": "a whole number", "int_from_float": "a whole number",
    "float_type": "a number", "finite_number": "a finite number", "bool_type": "true or false",
    "string_type": "text", "dict_type": "a mapping", "list_type": "a list",
}


def _expected(error: Any) -> str:
    template = _EXPECTED.get(error["type"])
    if template is not None:
        ctx = {k: f"{v:g}" if isinstance(v, float) else v
               for k, v in (error.get("ctx") or {}).items()}
        return "expected " + template.format(**ctx)
    message = str(error["msg"])
    return message.replace("Input should be", "expected").replace("input should be", "expected")


_ADAPTERS: dict[Any, TypeAdapter] = {}


def _adapter(hint: Any) -> TypeAdapter:
    key = repr(hint)
    if key not in _ADAPTERS:
        _ADAPTERS[key] = TypeAdapter(hint, config=ConfigDict(strict=True))
    return _ADAPTERS[key]


def parse_blocks(value: Any, option: str = "--blocks") -> list[list[int]]:
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


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
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
        node[parts[-1]] = yaml_value(text)
    return raw


def load_recipe(path: Path | str | None, overrides: Sequence[str] = ()) -> RunConfig:
    """Read a recipe (a YAML file or an installed recipe's name, see
    :func:`pygkd.train.recipes.resolve_recipe`), or defaults when ``path`` is None, and apply
    overrides."""
    from pygkd.train.recipes import read_yaml, resolve_recipe

    raw: dict[str, Any] = {}
    if path is not None:
        path = resolve_recipe(path)
        raw = read_yaml(path)
    return RunConfig.from_dict(apply_overrides(raw, overrides), str(path or "recipe"))


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_changes(saved: dict[str, Any], new: dict[str, Any],
                   ignore: tuple[str, ...] = ()) -> str:
    """What differs between two run configurations (``to_dict()`` form), for people:
    ``"train.epochs: 1 -> 2"`` (up to three keys), or ``""``. ``device`` may differ, and keys
    starting with an ``ignore`` prefix; a key an older pygkd did not write counts as unchanged
    while the new value is an empty default (``None``, ``[]``, ``{}``).

    Example:
        >>> config_changes({"seed": 0, "train": {"epochs": 1}}, {"seed": 0, "inputs": [],
        ...                 "train": {"epochs": 2}})
        'train.epochs: 1 -> 2'
    """
    old, now = _flat(saved), _flat(new)
    changed = [k for k in sorted(set(old) | set(now))
               if k != "device" and not k.startswith(ignore) and old.get(k) != now.get(k)
               and not (k not in old and now.get(k) in (None, [], {}))]
    shown = "; ".join(f"{k}: {old.get(k)!r} -> {now.get(k)!r}" for k in changed[:3])
    return shown + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
