r"""Keep the memory of freed tensors in the process instead of giving it back to the system.

On Linux, glibc's ``malloc`` serves every block above its mmap threshold (at most 32 MB) with a
fresh ``mmap`` and returns it with ``munmap`` when freed. A training step of a spatio-temporal
model allocates and frees activations of ``[B, T, N, C]`` floats (about 35 MB at 228 sensors
and a batch of 50; 210 MB at 8,600 sensors and a batch of 8) dozens of times, so every step
page-faults all of that memory in again and the kernel zeroes it: measured on a 2-core machine,
half of a teacher step's time at 8,600 sensors was system time. With the blocks kept in the heap
(``mallopt``: no mmap, no automatic trimming) the next step reuses them. The resident memory
stays at the peak of a step instead of falling back between steps, until
:func:`release_freed_memory` gives the free blocks back (``pygkd tune`` does after each trial).

:func:`retain_freed_memory` switches this on for the whole process; the ``pygkd`` commands call
it when they start (``PYGKD_RETAIN_MEMORY=0`` leaves glibc's defaults). Other C libraries
(macOS, Windows, musl) are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["retain_freed_memory", "freed_memory_retained", "memory_retained",
           "retain_unless_disabled", "release_freed_memory"]

# glibc's mallopt parameters (mallopt(3)). Any mallopt call ends glibc's dynamic thresholds,
# so "defaults" are the values they settle at in a loop of large blocks: an mmap threshold of
# 32 MiB (the most it rises to) and a trim threshold of twice that.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_DEFAULTS = {_M_TRIM_THRESHOLD: 64 << 20, _M_MMAP_THRESHOLD: 32 << 20, _M_MMAP_MAX: 65536}
_RETAINED = {_M_MMAP_MAX: 0, _M_TRIM_THRESHOLD: -1}  # -1: never trim (mallopt(3))
_state = {"retained": False}


def _glibc():  # type: ignore[no-untyped-def]
    """The C library when it is glibc, else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
    except (OSError, AttributeError):
        return None
    return libc


def release_freed_memory() -> bool:
    """Give the heap's free blocks back to the system now (glibc ``malloc_trim``), e.g. before
    measuring a peak of resident memory. Returns whether glibc did it."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def _mallopt():  # type: ignore[no-untyped-def]
    """glibc's ``mallopt``, or ``None`` on another C library."""
    libc = _glibc()
    if libc is None:
        return None
    fn = libc.mallopt
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return fn


def retain_freed_memory(enable: bool = True) -> bool:
    """Keep freed blocks in the heap (``enable``) or return to glibc's defaults.

    Returns whether the setting was applied (``False`` off glibc). Process-wide: it affects
    every allocation of this process from now on.
    """
    mallopt = _mallopt()
    if mallopt is None:
        return False
    settings = _RETAINED if enable else _DEFAULTS
    ok = all(mallopt(key, value) == 1 for key, value in settings.items())
    _state["retained"] = bool(enable and ok)
    return ok


def memory_retained() -> bool:
    """Whether :func:`retain_freed_memory` is in effect."""
    return _state["retained"]


@contextmanager
def freed_memory_retained(enable: bool = True) -> Iterator[bool]:
    """:func:`retain_freed_memory` for a block, then the setting that was in effect before."""
    before = memory_retained()
    applied = retain_freed_memory(enable)
    try:
        yield applied
    finally:
        if applied:
            retain_freed_memory(before)


def retain_unless_disabled() -> bool:
    """:func:`retain_freed_memory` unless the environment says ``PYGKD_RETAIN_MEMORY=0``."""
    if os.environ.get("PYGKD_RETAIN_MEMORY", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return retain_freed_memory(True)
