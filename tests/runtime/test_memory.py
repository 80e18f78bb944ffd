import sys

import pytest
import torch

from pygkd.runtime.memory import (
    freed_memory_retained,
    memory_retained,
    release_freed_memory,
    retain_unless_disabled,
)

glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")


@glibc
def test_retained_block_restores_the_previous_setting():
    before = memory_retained()
    with freed_memory_retained(True) as applied:
        assert applied and memory_retained()
        a = torch.ones(10_000_000)  # 40 MB: above glibc's largest mmap threshold
        del a
        b = torch.zeros(10_000_000)
        assert float(b.sum()) == 0.0
    assert memory_retained() == before
    assert release_freed_memory()


@glibc
def test_environment_turns_it_off(monkeypatch):
    monkeypatch.setenv("PYGKD_RETAIN_MEMORY", "0")
    with freed_memory_retained(False):
        assert retain_unless_disabled() is False
        assert not memory_retained()
