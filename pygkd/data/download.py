"""Download the public datasets into a local folder (not exercised offline; tests use files
they write).

Files are fetched over HTTPS, written atomically (``.part`` then rename) and, where the SHA-256
is known, verified before they are kept.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from pygkd.errors import InputError

__all__ = ["SOURCES", "default_data_dir", "download_dataset"]

_GH = "https://raw.githubusercontent.com"
#: name -> list of (file name, URL, sha256 or None)
SOURCES: dict[str, list[tuple[str, str, str | None]]] = {
    "los-loop": [
        (
            "los_speed.csv",
            f"{_GH}/lehaifeng/T-GCN/master/T-GCN/T-GCN-PyTorch/data/los_speed.csv",
            "7b732d86ae32b2930595becba28aff39dacbfb2197e250fc0332e1744ce2cbf4",
        ),
        (
            "los_adj.csv",
            f"{_GH}/lehaifeng/T-GCN/master/T-GCN/T-GCN-PyTorch/data/los_adj.csv",
            "7a6eb41e10677992b5af50f5ab187c6c05c5c3a92cb973950cfddbf857361e76",
        ),
    ],
    "pemsd7m": [
        ("V_228.csv", f"{_GH}/hazdzz/STGCN/main/data/pemsd7-m/vel.csv", None),
        (
            "W_228.csv",
            f"{_GH}/hazdzz/STGCN/main/data/road_traffic/PeMS-M/W_228.csv",
            "c558c602b7937fb3ecb3835938fe8f61a34efa4c51e0ae3f61ed93ecc680060e",
        ),
    ],
    "pems08": [
        ("PEMS08.npz", f"{_GH}/guoshnBJTU/ASTGNN/main/data/PEMS08/PEMS08.npz", None),
        (
            "PEMS08.csv",
            f"{_GH}/guoshnBJTU/ASTGNN/main/data/PEMS08/PEMS08.csv",
            "859d68e7583ed4e6016588eaaca494d3ece286dae361614c5c1833017f87eaa7",
        ),
    ],
}


def default_data_dir() -> Path:
    """``$PYGKD_DATA`` if set, else ``~/.cache/pygkd/data``."""
    return Path(os.environ.get("PYGKD_DATA", Path.home() / ".cache" / "pygkd" / "data"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_dataset(name: str, root: Path | None = None, force: bool = False) -> Path:
    """Fetch ``name``'s files into ``root`` (default: :func:`default_data_dir`); return ``root``."""
    if name not in SOURCES:
        raise InputError(f"dataset: unknown {name!r} to download "
                         f"(choose from: {', '.join(SOURCES)})")
    root = Path(root) if root is not None else default_data_dir()
    root.mkdir(parents=True, exist_ok=True)
    for filename, url, sha in SOURCES[name]:
        target = root / filename
        if target.exists() and not force:
            continue
        part = target.with_name(target.name + ".part")
        with urllib.request.urlopen(url, timeout=60) as response, part.open("wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        if sha is not None and _sha256(part) != sha:
            part.unlink()
            raise OSError(f"{url}: checksum mismatch, file discarded")
        os.replace(part, target)
    return root
