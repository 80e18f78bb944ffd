"""Recipe files: the one place pygkd reads YAML, and the recipes installed with the package.

The repository's ``recipes/`` folder is installed as the package ``pygkd.recipes``, so a recipe
can be named instead of given as a path, from any folder::

    pygkd recipes                                   # list them
    pygkd distill --teacher T.pt --recipe distill/stcd
    pygkd train --recipe ./my-recipe.yaml           # or any file

A name that matches no file and no installed recipe is an error, never a silent default.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pygkd.errors import InputError

__all__ = ["read_yaml", "yaml_value", "recipe_root", "resolve_recipe", "list_recipes",
           "recipe_description"]


def read_yaml(path: Path | str, what: str = "recipe") -> dict[str, Any]:
    """A YAML mapping from ``path``; a one-line :class:`InputError` for a missing file, invalid
    YAML or a top level that is not a mapping (an empty file is an empty mapping)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: not valid YAML ({first})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the {what} ({type(err).__name__})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping of sections (seed, data, model, train, "
                         f"...) (got a {type(raw).__name__})")
    return raw


def yaml_value(text: str, option: str = "--set") -> Any:
    """One YAML value (``--set key=VALUE``): ``5`` is a number, ``true`` a boolean, ``[1, 2]`` a
    list, anything else text.

    Example:
        >>> yaml_value("5"), yaml_value("0.5"), yaml_value("[1, 2]"), yaml_value("adam")
        (5, 0.5, [1, 2], 'adam')
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise InputError(f"{option}: {text!r} is not a valid value") from None


def recipe_root() -> Path:
    """The folder of the installed recipes (the repository's ``recipes/``)."""
    return Path(str(resources.files("pygkd.recipes")))


def list_recipes() -> list[str]:
    """Names of the installed recipes, e.g. ``distill/stcd`` (sorted)."""
    root = recipe_root()
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))


def recipe_description(path: Path) -> str:
    """The first comment line of a recipe file (what it is for)."""
    for line in Path(path).read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def resolve_recipe(spec: str | Path) -> Path:
    """A recipe file from a path or an installed recipe's name (``distill/stcd``,
    ``distill/stcd.yaml``); :class:`InputError` when it is neither."""
    path = Path(spec)
    if path.is_file():
        return path
    name = str(spec).removesuffix(".yaml").removesuffix(".yml").strip("/")
    installed = recipe_root() / f"{name}.yaml"
    if installed.is_file():
        return installed
    raise InputError(f"--recipe: {str(spec)!r} is neither a file nor an installed recipe "
                     "(see 'pygkd recipes')")
