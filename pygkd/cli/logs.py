"""How the command line shows the library's :mod:`logging` messages.

The library logs to the ``pygkd`` logger and never prints. The CLI attaches one handler:
information to standard output as plain lines, warnings and errors to standard error as lines
starting ``Warning:`` / ``Error:``. ``-q`` shows warnings only, ``-v`` adds debug messages.
Python ``warnings`` raised during a command are shown the same way.
"""

from __future__ import annotations

import logging

import click

__all__ = ["EchoHandler", "configure_logging"]


class EchoHandler(logging.Handler):
    """Writes records with :func:`click.echo` (so click's test runner captures them)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if record.levelno >= logging.ERROR:
                click.echo(f"Error: {message}", err=True)
            elif record.levelno >= logging.WARNING:
                click.echo(f"Warning: {message}", err=True)
            else:
                click.echo(message)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def configure_logging(verbosity: int = 0) -> None:
    """Show ``pygkd`` messages: ``verbosity`` -1 warnings only, 0 information, 1+ debug."""
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    logging.captureWarnings(True)
    for name in ("pygkd", "py.warnings"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if isinstance(handler, EchoHandler):  # configured again in the same process
                logger.removeHandler(handler)
        handler = EchoHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logging.getLogger("pygkd").setLevel(level)
