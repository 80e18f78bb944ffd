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

__all__ = ["UniqueKeyLoader", "read_yaml", "yaml_value", "recipe_root", "resolve_recipe",
           "list_recipes", "recipe_description"]


class UniqueKeyLoader(yaml.SafeLoader):
    r"""``yaml.SafeLoader`` that refuses a key given twice in one mapping (where plain YAML
    silently keeps the last).

    Example:
        >>> yaml.load("a: 1\nb: 2", Loader=UniqueKeyLoader)
        {'a': 1, 'b': 2}
        >>> yaml.load("train:\n  lr: 1\n  lr: 2", Loader=UniqueKeyLoader)
        Traceback (most recent call last):
        ...
        pygkd.errors.InputError: key 'lr' appears twice (lines 2 and 3); keep one
    """


def _unique_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode,
                    deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
        line = key_node.start_mark.line + 1
        if key in seen:
            raise InputError(f"key {key!r} appears twice (lines {seen[key]} and {line}); "
                             "keep one")
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def read_yaml(path: Path | str, what: str = "recipe") -> dict[str, Any]:
    """A YAML mapping from ``path``; a one-line :class:`InputError` for a missing file, invalid
    YAML or a top level that is not a mapping (an empty file is an empty mapping)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} file not found")
    try:
        raw = yaml.load(path.read_text(), Loader=UniqueKeyLoader)  # noqa: S506 (safe loader)
    except InputError as err:
        raise InputError(f"{path}: {err}") from None
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
