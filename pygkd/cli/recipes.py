"""``pygkd recipes``: the recipes installed with pygkd."""

from __future__ import annotations

import click

from pygkd.cli.main import main


@main.command("recipes")
@click.argument("name", required=False)
def recipes(name: str | None) -> None:
    """List the installed recipes, or print recipe NAME (to copy and edit).

    Any command's --recipe takes such a name (e.g. --recipe distill/stcd) or a file.
    """
    from pygkd.train.recipes import list_recipes, recipe_description, recipe_root, resolve_recipe

    if name is not None:
        click.echo(resolve_recipe(name).read_text(), nl=False)
        return
    root = recipe_root()
    names = list_recipes()
    width = max(len(n) for n in names)
    for item in names:
        click.echo(f"{item:<{width}}  {recipe_description(root / f'{item}.yaml')}")
    click.echo(f"\n{len(names)} recipes in {root}")
