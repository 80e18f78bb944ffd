"""From command-line flags to a recipe: ``--recipe`` read, flags merged into its sections,
results printed. Shared by ``train``, ``distill`` and ``prune``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pygkd.cli.options import runtime_overrides

__all__ = ["recipe_option", "recipe_dict", "merge_runtime", "merge_section", "model_section",
           "echo_results"]

#: ``--recipe``: a YAML file or the name of an installed recipe (``pygkd recipes``).
recipe_option = click.option(
    "--recipe", default=None, metavar="FILE|NAME",
    help="Recipe YAML file, or an installed recipe's name (see 'pygkd recipes'); flags "
         "override it.")


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


def model_section(preset: str | None, blocks: str | None) -> dict[str, Any]:
    """The ``model`` recipe values given by --preset / --blocks (explicit blocks win)."""
    from pygkd.train.config import parse_blocks

    if blocks is not None:
        return {"blocks": parse_blocks(blocks), "preset": None}
    if preset is not None:
        return {"preset": preset, "blocks": None}
    return {}


def echo_results(metrics: dict[str, Any], name: str) -> None:
    from pygkd.tables import results_table

    click.echo(results_table([
        ("Persistence (last observed value)", metrics["persistence_test"], None),
        (name, metrics["test"], metrics["model"]),
    ]))
