"""Writing results safely: atomically, and never through a link into a place the user did not
name.

Every file pygkd writes goes through :func:`write_atomic` (or :func:`replacing` for writers
that need a file name): the content goes to a new temporary file in the same folder (created
with ``O_EXCL``, so a planted link is never followed) and is then renamed over the target. A
rename replaces a symbolic link itself, not the file it points to, and an interrupted write
leaves the previous file intact. :func:`ensure_writable` checks an output path before any work.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pygkd.errors import InputError

__all__ = ["write_atomic", "replacing", "ensure_writable", "probe_folder", "read_json"]


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A fresh temporary path beside ``path``; renamed over ``path`` when the block ends
    without an error, removed otherwise.

    Example:
        >>> folder = Path(tempfile.mkdtemp())
        >>> with replacing(folder / "a.txt") as tmp:
        ...     _ = tmp.write_text("hello")
        >>> (folder / "a.txt").read_text()
        'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically, replacing a link at ``path``
    rather than writing through it."""
    path = Path(path)
    with replacing(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
    return path


def ensure_writable(path: str | Path, option: str) -> Path:
    """Check, before any work, that the file ``path`` can be written: not a symbolic link, not
    a folder, in a folder where files can be created (created if needed). A one-line
    :class:`InputError` names ``option`` and the user's path otherwise; nothing is written.

    Example:
        >>> ensure_writable(Path(tempfile.mkdtemp()) / "x" / "out.csv", "--out").name
        'out.csv'
    """
    path = Path(path)
    if not str(path).strip() or str(path) == ".":
        raise InputError(f"{option}: expected a file path (got {str(path)!r})")
    if path.is_symlink():
        raise InputError(f"{option} {path}: is a symbolic link; give the path of a regular "
                         "file (pygkd does not write through links)")
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; give a file path")
    try:
        probe_folder(path.parent)
    except OSError as err:
        raise InputError(f"{option} {path}: cannot write there "
                         f"({err.strerror or type(err).__name__})") from None
    return path


def probe_folder(folder: str | Path) -> Path:
    """Create ``folder`` if needed and check that files can be created in it (a fresh
    temporary file, created and removed; never a fixed name a link could stand on). Raises
    ``OSError`` otherwise."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".pygkd-write-test.", dir=folder)
    os.close(fd)
    os.unlink(probe)
    return folder


def read_json(path: str | Path, what: str = "results") -> dict[str, Any]:
    """A JSON object from ``path``; a one-line :class:`InputError` naming the file when it is
    not readable JSON (a run killed while an older pygkd wrote it, an edited file)."""
    import json

    path = Path(path)
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the {what} ({type(err).__name__})") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: the {what} file is not valid JSON ({err.msg} at line "
                         f"{err.lineno}); run that run again, or delete the file") from None
    if not isinstance(loaded, dict):
        raise InputError(f"{path}: expected a JSON object of {what}")
    return loaded
