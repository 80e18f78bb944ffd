"""The click group. Errors in what the user gave are printed on one line, never a traceback."""

from __future__ import annotations

import sys

import click

from pygkd import __version__
from pygkd.errors import InputError


class PygkdGroup(click.Group):
    """Turns :class:`~pygkd.errors.InputError` into a one-line ``Error: ...`` (exit 2) and
    Ctrl-C into a note on how to resume (exit 130)."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except InputError as err:
            raise _input_error(err) from None
        except KeyboardInterrupt:
            click.echo("\nInterrupted. Run the same command again to resume from the last "
                       "finished epoch.", err=True)
            sys.exit(130)


def _input_error(err: InputError) -> click.ClickException:
    exc = click.ClickException(str(err))
    exc.exit_code = 2
    return exc


@click.group(cls=PygkdGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pygkd")
def main() -> None:
    """pygkd: small, fast spatio-temporal graph forecasters by knowledge distillation and
    KD-aware pruning (Izadi et al., arXiv 2401.11798)."""


def _register() -> None:
    from pygkd.cli import (bench, compare, data, deploy, distill, plot, prune,  # noqa: F401
                           quickstart, report, train)


_register()
