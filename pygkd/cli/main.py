"""The click group. Errors in what the user gave are printed on one line, never a traceback.

Commands are loaded lazily: ``pygkd --help`` and ``pygkd --version`` import neither PyTorch nor
PyTorch Geometric; a command's module is imported when that command runs (or its own
``--help`` is asked for).
"""

from __future__ import annotations

import sys

import click

from pygkd import __version__
from pygkd.errors import InputError

#: Command name -> (module that defines it, one-line help shown by ``pygkd --help``).
LAZY_COMMANDS = {
    "bench": ("pygkd.cli.bench", "Benchmarks printed side by side."),
    "compare": ("pygkd.cli.compare", "Run a whole comparison and write it as a markdown table."),
    "data": ("pygkd.cli.data", "Inspect, download and export traffic datasets."),
    "distill": ("pygkd.cli.distill", "Distil a student from frozen teachers (any model family)."),
    "evaluate": ("pygkd.cli.train", "Evaluate a saved model (model.pt)."),
    "export": ("pygkd.cli.deploy", "Export MODEL (ONNX or torch.export) with the rollout inside."),
    "plot": ("pygkd.cli.plot", "Figures: training curves, forecasts, t-SNE (PNG and SVG)."),
    "predict": ("pygkd.cli.deploy", "Forecast the next steps from the latest readings."),
    "prune": ("pygkd.cli.prune", "Prune a trained STGCN by Algorithm 1 and fine-tune it."),
    "quickstart": ("pygkd.cli.quickstart", "The main job on the built-in network, with a report."),
    "recipes": ("pygkd.cli.recipes", "List the installed recipes, or print one."),
    "launch": ("pygkd.cli.launch", "Run train/distill/prune as data-parallel processes."),
    "report": ("pygkd.cli.report", "One self-contained HTML page of runs and comparisons."),
    "train": ("pygkd.cli.train", "Train a forecaster (STGCN or the zoo) and evaluate it."),
    "tune": ("pygkd.cli.compare", "Optuna study of a loss's weights on the validation split."),
}


class PygkdGroup(click.Group):
    """Turns :class:`~pygkd.errors.InputError` into a one-line ``Error: ...`` (exit 2) and
    Ctrl-C into a note on how to resume (exit 130); loads commands lazily."""

    def list_commands(self, ctx: click.Context) -> list:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, name: str):  # type: ignore[no-untyped-def]
        if name not in self.commands and name in LAZY_COMMANDS:
            import importlib

            importlib.import_module(LAZY_COMMANDS[name][0])  # registers its commands on main
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from :data:`LAZY_COMMANDS`, without importing the commands."""
        rows = []
        for name in self.list_commands(ctx):
            loaded = self.commands.get(name)
            text = loaded.get_short_help_str(60) if loaded is not None else \
                LAZY_COMMANDS[name][1]
            rows.append((name, text))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except InputError as err:
            raise _input_error(err) from None
        except KeyboardInterrupt:
            click.echo("\nInterrupted. Run the same command again to resume from the last "
                       "finished epoch.", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as err:
            if ctx.params.get("debug") or (ctx.obj or {}).get("debug"):
                raise
            raise _unexpected_error(err) from None


class UsageLikeError(click.ClickException):
    """A one-line error about what the user gave (exit code 2, as click's usage errors)."""

    exit_code = 2


def _input_error(err: InputError) -> click.ClickException | click.exceptions.Exit:
    if _other_rank():  # under torchrun every process meets the same error: rank 0 says it
        return click.exceptions.Exit(2)
    return UsageLikeError(str(err))


def _other_rank() -> bool:
    """True in a data-parallel process other than rank 0 (``torchrun`` sets ``RANK``)."""
    import os

    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("RANK", "0")) > 0


def _unexpected_error(err: Exception) -> click.ClickException:
    """Anything else: one line naming the error; ``pygkd --debug ...`` shows the traceback."""
    if isinstance(err, OSError) and err.filename is not None:
        text = f"{err.filename}: {err.strerror or type(err).__name__}"
    else:
        text = f"{type(err).__name__}: {err}".rstrip(": ")
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return click.ClickException(f"{first} (run 'pygkd --debug ...' for the traceback)")


@click.group(cls=PygkdGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pygkd")
@click.option("-v", "--verbose", count=True, help="More messages (debug).")
@click.option("-q", "--quiet", is_flag=True,
              help="Warnings, errors and results only (no progress messages).")
@click.option("--debug", is_flag=True, help="Show the traceback of unexpected errors.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool, debug: bool) -> None:
    """pygkd: small, fast spatio-temporal graph forecasters by knowledge distillation and
    KD-aware pruning (Izadi et al., arXiv 2401.11798)."""
    from pygkd.cli.logs import configure_logging

    ctx.obj = {"debug": debug}
    configure_logging(-1 if quiet else verbose)
    if ctx.invoked_subcommand != "bench":  # benchmarks time glibc's defaults too
        from pygkd.runtime.memory import retain_unless_disabled

        retain_unless_disabled()

