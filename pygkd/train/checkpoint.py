"""Checkpoints: atomic writes and safe loads (``torch.load(weights_only=True)``).

A checkpoint holds only tensors and plain Python values (dicts, lists, numbers, strings), so it
loads with ``weights_only=True``: opening one never runs code from the file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from pygkd.errors import InputError

__all__ = ["save_checkpoint", "load_checkpoint", "load_model", "cpu_state", "FORMAT",
           "FORMAT_VERSION"]

#: Format tag written into every checkpoint.
FORMAT = "pygkd-checkpoint"
#: Version of the checkpoint layout this pygkd writes; it reads this and every older one.
#: 1: the first layout (tag ``pygkd-checkpoint-v1``); 2: adds ``format_version`` and the graph.
FORMAT_VERSION = 2
_LEGACY_TAGS = {"pygkd-checkpoint-v1": 1}


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``model.state_dict()`` (of the model inside a DDP or compiled
    wrapper, so no ``module.``/``_orig_mod.`` prefixes): checkpoints are device-free."""
    from pygkd.runtime.distributed import unwrap_model

    state = unwrap_model(model).state_dict()
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically: a temporary file in the same folder, then rename.

    A run killed while saving leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed process
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a pygkd checkpoint safely (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is a user error here
        raise InputError(
            f"{path}: not a readable pygkd checkpoint ({type(err).__name__})") from None
    if not isinstance(payload, dict):
        raise InputError(f"{path}: not a pygkd checkpoint (expected format {FORMAT!r})")
    tag = payload.get("format")
    version = _LEGACY_TAGS.get(tag) if tag in _LEGACY_TAGS else payload.get("format_version")
    if tag not in (FORMAT, *_LEGACY_TAGS) or not isinstance(version, int):
        raise InputError(f"{path}: not a pygkd checkpoint (expected format {FORMAT!r})")
    if version > FORMAT_VERSION:
        raise InputError(f"{path}: written by a newer pygkd (checkpoint format {version}; this "
                         f"pygkd reads up to {FORMAT_VERSION}): upgrade pygkd")
    payload["format_version"] = version
    return payload


def load_model(path: Path) -> tuple[Any, dict[str, Any]]:
    """Rebuild the model stored in a checkpoint (any family of the zoo); returns
    ``(model, checkpoint)``."""
    from pygkd.nn.models.registry import MODELS, model_class

    payload = load_checkpoint(path)
    kind = payload.get("kind")
    if kind not in MODELS or "model_config" not in payload:
        raise InputError(f"{path}: expected a model checkpoint of {', '.join(sorted(MODELS))} "
                         f"(got kind {kind!r})")
    try:
        model = model_class(kind).from_config(  # type: ignore[attr-defined]
            payload["model_config"])
        model.load_state_dict(payload["model_state"])
    except InputError as err:
        raise InputError(f"{path}: the stored model configuration is invalid ({err})") from None
    except (RuntimeError, TypeError, KeyError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: the stored weights do not fit the stored model "
                         f"configuration ({first})") from None
    return model, payload
