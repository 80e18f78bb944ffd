"""User-facing errors.

Every problem with what a user gave (a file, an option, a configuration) raises
:class:`InputError`, whose message names the file or option, what was expected and what came
in. The command line prints such errors on one line, without a traceback.
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad user input: the message says what was expected and what was given.

    Example:
        >>> raise InputError("--split: expected 'train/val/test' day counts (got '5-1-1')")
        Traceback (most recent call last):
        ...
        pygkd.errors.InputError: --split: expected 'train/val/test' day counts (got '5-1-1')
    """
