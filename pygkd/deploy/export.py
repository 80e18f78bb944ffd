"""Write a :class:`~pygkd.deploy.ForecastModule` to files other runtimes load.

========================  ===========================================================
``onnx``                  ONNX (``torch.onnx.export(dynamo=True)``), checked with
                          ``onnx.checker``; runs in ONNX Runtime without PyTorch
``exported-program``      ``torch.export`` program (``.pt2``, :func:`torch.export.load`)
========================  ===========================================================

Every file has one input ``readings`` (raw readings ``[B, T, N, C]``, float32, any batch size)
and one output ``forecast`` (``[B, H, N]`` in the same units): the graph operator, the
normalisation and the whole autoregressive rollout are inside. STGCN and the recurrent
families whose cells apply a cached graph operator (``gconvgru``, ``tgcn``, ``a3tgcn``:
:meth:`~pygkd.nn.models.recurrent.RecurrentForecaster.cache_graph`) export; ``dcrnn``, whose
cell runs PyG Temporal's own message passing, does not. ONNX and quantisation need the
``export`` extra (``pip install "pygkd[export]"``: onnx, onnxscript, onnxruntime).

TorchScript is not offered: ``torch.jit`` is deprecated on the supported PyTorch versions, and
``torch.export`` is its replacement.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pygkd.deploy.module import ForecastModule
from pygkd.errors import InputError
from pygkd.nn.models.recurrent import RecurrentForecaster

__all__ = ["FORMATS", "export_forecaster", "onnx_session", "example_input"]

#: ``--format`` values of ``pygkd export``.
FORMATS = ("onnx", "exported-program")

INPUT_NAME, OUTPUT_NAME = "readings", "forecast"

logger = logging.getLogger(__name__)


def example_input(module: ForecastModule, batch: int = 2) -> Tensor:
    """A ``[batch, T, N, C]`` window of readings at the training mean (for tracing)."""
    return torch.full((batch, module.input_steps, module.num_nodes, module.in_channels),
                      float(module.mean))


def _require(package: str) -> Any:
    try:
        return __import__(package)
    except ImportError:
        raise InputError(f"--format: needs the '{package}' package; install the export extra: "
                         'pip install "pygkd[export]"') from None


def _atomic_target(out: Path) -> tuple[Path, Path]:
    out = Path(out)
    if out.exists() and out.is_dir():
        raise InputError(f"--out: {out} is a folder; give a file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    return out, Path(tmp)


@contextlib.contextmanager
def _quiet_loggers() -> Iterator[None]:
    """Silence the exporters' and quantiser's advice printed through ``logging``."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def _compact(model: Any) -> None:
    """Shrink an unrolled ONNX graph (an ``onnx_ir`` model, in place) with passes that take
    seconds: drop the exporter's per-node debug metadata (about 1.4 kB a node), merge
    repeated subexpressions, fold constants and drop dead nodes (a GConvGRU rolled out
    9 x 12 steps: 23,595 nodes and 52 MB -> about 6,100 nodes and under 1 MB)."""
    from onnx_ir.passes import common
    from onnxscript.optimizer import fold_constants

    for step in (common.ClearMetadataAndDocStringPass(), common.IdentityEliminationPass(),
                 common.CommonSubexpressionEliminationPass(), common.RemoveUnusedNodesPass()):
        step(model)
    fold_constants(model)
    common.RemoveUnusedNodesPass()(model)


def export_forecaster(module: ForecastModule, fmt: str, out: Path) -> Path:
    """Write ``module`` as ``fmt`` to ``out`` (atomically); return the path.

    The batch dimension is dynamic; ONNX files are checked with ``onnx.checker``.
    """
    if fmt not in FORMATS:
        raise InputError(f"--format: expected one of {', '.join(FORMATS)} (got {fmt!r})")
    if not module.cached:
        from pygkd.nn.models.registry import model_family

        raise InputError(f"a {model_family(module.model)} model runs PyG Temporal's own "
                         "message passing, which is not exported: run it in Python with "
                         "'pygkd predict' or pygkd.deploy.Forecaster (stgcn, gconvgru, tgcn "
                         "and a3tgcn models export)")
    module = module.eval()
    # a recurrent cell is unrolled over T input steps for each of the H forecast steps:
    # onnxscript's full optimiser grows faster than linearly with that graph (a GConvGRU
    # rolled out 9 steps: > 6 min, stopped), so those graphs get the linear passes of _compact
    recurrent = isinstance(module.model, RecurrentForecaster)
    if recurrent:
        logger.info("tracing the %s cell unrolled over %d x %d steps: this takes a few minutes",
                    module.model.family, module.horizon, module.input_steps)
    x = example_input(module)
    batch = torch.export.Dim("batch", min=1, max=1_000_000)
    out, tmp = _atomic_target(out)
    try:
        if fmt == "exported-program":
            program = torch.export.export(module, (x,), dynamic_shapes={"x": {0: batch}})
            torch.export.save(program, str(tmp))
        else:
            onnx = _require("onnx")
            _require("onnxscript")
            with warnings.catch_warnings(), _quiet_loggers():
                warnings.simplefilter("ignore")
                onnx_program = torch.onnx.export(module, (x,), dynamo=True,
                                                 dynamic_shapes={"x": {0: batch}},
                                                 input_names=[INPUT_NAME],
                                                 output_names=[OUTPUT_NAME], verbose=False,
                                                 optimize=not recurrent)
                assert onnx_program is not None
                if recurrent:
                    _compact(onnx_program.model)
                onnx_program.save(str(tmp), external_data=False)
            onnx.checker.check_model(onnx.load(str(tmp)))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def onnx_session(path: Path, threads: int = 0) -> Any:
    """An ONNX Runtime CPU session for an exported file (``threads=0``: its default)."""
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
