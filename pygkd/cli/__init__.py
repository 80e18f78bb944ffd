"""The ``pygkd`` command line: thin click commands that parse, load and call the library."""

from pygkd.cli.main import main

__all__ = ["main"]
