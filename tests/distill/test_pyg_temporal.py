"""Distillation beyond STGCN: a PyG Temporal recurrent model, through hooks alone."""

import runpy
from pathlib import Path

import torch

from pygkd.compat import import_pyg_temporal
from pygkd.distill import FeatureCapture

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "distill_pyg_temporal.py"


def test_hooks_capture_a_recurrent_cell_over_time():
    A3TGCN2 = import_pyg_temporal().nn.recurrent.A3TGCN2
    model = A3TGCN2(1, 5, periods=12, batch_size=2)
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    with FeatureCapture(model, ["_base_tgcn"], accumulate=True) as cap:
        out = model(torch.randn(2, 3, 1, 12), ei)
    assert out.shape == (2, 3, 5)
    assert cap.features["_base_tgcn"].shape == (2, 12, 3, 5)  # [B, T, N, C]
    assert not any(m._forward_hooks for m in model.modules())


def test_example_distils_a3tgcn_with_tcd_and_scd():
    main = runpy.run_path(str(EXAMPLE))["main"]
    seen = main(teacher_hidden=16, student_hidden=4, steps=40)
    # the student's hidden states move toward the teacher's relations
    assert seen["tcd"][1] < seen["tcd"][0]
    assert seen["scd"][1] < seen["scd"][0]
