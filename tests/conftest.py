"""Shared fixtures. Real data lives in ../shared/data beside the repository; tests that need
it skip with the reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PYGKD_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (real data from ../shared/data is not available here)")
    return path


@pytest.fixture
def shared_data() -> Path:
    shared_file("los_speed.csv")
    shared_file("los_adj.csv")
    return SHARED_DATA
