"""From command-line flags to a recipe: ``--recipe`` read, flags merged into its sections,
results printed. Shared by ``train``, ``distill`` and ``prune``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pygkd.cli.options import runtime_overrides

__all__ = ["refuse_unused_overrides", "UNUSED_SETTINGS", "recipe_option", "recipe_dict",
           "merge_runtime", "merge_section", "model_options", "model_section", "echo_results"]

#: ``--recipe``: a YAML file or the name of an installed recipe (``pygkd recipes``).
recipe_option = click.option(
    "--recipe", default=None, metavar="FILE|NAME",
    help="Recipe YAML file, or an installed recipe's name (see 'pygkd recipes'); flags "
         "override it.")


_TEACHER_DATA = "it reads the teacher's data (files, split and windows as trained)"
_MODEL_DATA = "it reads the data the model was trained on"
#: ``--set`` sections a command does not read, and why (a ``--set`` there would be ignored).
UNUSED_SETTINGS: dict[str, dict[str, str]] = {
    "train": {"distill.": "training has no teacher (use 'pygkd distill')",
              "prune.": "training does not prune (use 'pygkd prune')"},
    "distill": {"data.": _TEACHER_DATA, "prune.": "distillation does not prune"},
    "prune": {"data.": _MODEL_DATA},
    "compare distill": {"data.": _TEACHER_DATA, "prune.": "distillation does not prune"},
    "compare prune": {"data.": _MODEL_DATA},
    "tune": {"data.": _TEACHER_DATA, "prune.": "distillation does not prune"},
    "quickstart": {},
}


def refuse_unused_overrides(overrides: tuple[str, ...] | list[str], command: str) -> None:
    """A one-line error for a ``--set KEY=VALUE`` that ``command`` would silently ignore.

    Example:
        >>> refuse_unused_overrides(["train.epochs=2"], "distill")
        >>> refuse_unused_overrides(["data.split=1/1/1"], "distill")
        Traceback (most recent call last):
        ...
        pygkd.errors.InputError: --set data.split=1/1/1: distill does not use data.* settings: ...
    """
    from pygkd.errors import InputError

    for item in overrides:
        key = item.split("=", 1)[0].strip()
        for prefix, reason in UNUSED_SETTINGS.get(command, {}).items():
            if key.startswith(prefix):
                raise InputError(f"--set {item}: {command} does not use {prefix}* settings: "
                                 f"{reason}")


def recipe_dict(recipe: str | Path | None) -> dict[str, Any]:
    """The raw mapping of ``--recipe`` (a file or an installed recipe's name), or ``{}``."""
    from pygkd.train.recipes import read_yaml, resolve_recipe

    return {} if recipe is None else read_yaml(resolve_recipe(recipe))


def merge_runtime(raw: dict[str, Any], kwargs: dict[str, Any]) -> None:
    """Put the --device / --precision / --compile / --scd-nodes values into the recipe."""
    sections = runtime_overrides(kwargs)
    raw.update(sections.pop(""))
    for section, values in sections.items():
        merge_section(raw, section, values)


def merge_section(raw: dict[str, Any], section: str, values: dict[str, Any]) -> None:
    values = {k: v for k, v in values.items() if v is not None}
    if values:
        target = raw.setdefault(section, {}) or {}
        raw[section] = target
        options = values.pop("options", None)
        target.update(values)
        if options:
            target.setdefault("options", {}).update(options)


def model_options(student: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--model`` (``--student-model`` for distillation), ``--preset``, ``--blocks``,
    ``--hidden``, ``--layers``: which model of the zoo and its size."""
    from pygkd.cli.options import RegistryChoice
    from pygkd.nn.models.registry import MODELS, model_names
    from pygkd.nn.models.stgcn import PRESETS

    role = "Student model" if student else "Model"
    flag = "--student-model" if student else "--model"
    default = "student" if student else "teacher"
    options = [
        click.option(flag, "model_name", type=RegistryChoice(model_names),
                     default=None, help=f"{role} family [stgcn]; 'pygkd train --help' lists "
                     "them: " + ", ".join(f"{k} ({v.summary})" for k, v in MODELS.items())
                     if not student else f"{role} family [stgcn]."),
        click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
                     help=f"STGCN configuration [{default}]."),
        click.option("--blocks", default=None, metavar="C,C,C;C,C,C",
                     help="Explicit STGCN block channels, e.g. '1,32,64;64,32,128' "
                          "(overrides --preset)."),
        click.option("--hidden", type=click.IntRange(min=1), default=None,
                     help="Hidden channels of the other families [32; stconv 16]."),
        click.option("--layers", type=click.IntRange(min=1), default=None,
                     help="Blocks of stconv [2]."),
    ]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def model_section(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The ``model`` recipe values of the :func:`model_options` flags (popped from
    ``kwargs``; explicit blocks win over a preset)."""
    from pygkd.train.config import parse_blocks

    name, preset, blocks = (kwargs.pop(k, None) for k in ("model_name", "preset", "blocks"))
    section: dict[str, Any] = {"name": name.lower() if name else None,
                               "hidden": kwargs.pop("hidden", None),
                               "layers": kwargs.pop("layers", None)}
    if blocks is not None:
        section.update(blocks=parse_blocks(blocks), preset=None)
    elif preset is not None:
        section.update(preset=preset, blocks=None)
    return section


def echo_results(metrics: dict[str, Any], name: str) -> None:
    from pygkd.metrics import MAPE_MASK_NOTE
    from pygkd.tables import results_table

    click.echo(results_table([
        ("Persistence (last observed value)", metrics["persistence_test"], None),
        (name, metrics["test"], metrics["model"]),
    ]))
    click.echo(MAPE_MASK_NOTE)
