"""The roofline benchmark and its reference path: same function, counted FLOPs, the table."""

import logging
import time

import pytest
import torch

from pygkd.bench.reference import reference_path
from pygkd.bench.roofline import (
    MAX_REPEATS,
    RooflineRow,
    _print_table,
    bench_roofline,
    layer_times,
    step_flops,
    time_step,
)
from pygkd.errors import InputError
from pygkd.nn.layers import ChannelAlign, TemporalConv
from pygkd.nn.models.stgcn import PRESETS, STGCN
from pygkd.runtime.memory import freed_memory_retained, memory_retained
from pygkd.testing import toy_graph


def _outputs_and_grads(model, x):
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    out = model(x)
    out.backward(torch.linspace(-1, 1, out.numel()).view_as(out))
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return out.detach(), x.grad.clone(), grads


@pytest.mark.parametrize("preset", ["teacher", "student", "pruning-base"])
def test_todays_path_equals_the_reference_forward_and_backward(preset):
    torch.manual_seed(0)
    ei, ew = toy_graph(9)
    model = STGCN(9, PRESETS[preset]).cache_graph(ei, ew).train()
    x = torch.randn(3, 12, 9, 1)
    out, gx, grads = _outputs_and_grads(model, x)
    with reference_path():
        ref_out, ref_gx, ref_grads = _outputs_and_grads(model, x)
    assert torch.allclose(out, ref_out, atol=1e-5, rtol=1e-5)
    assert torch.allclose(gx, ref_gx, atol=1e-5, rtol=1e-5)
    for name, g in grads.items():
        assert torch.allclose(g, ref_grads[name], atol=1e-5, rtol=1e-4), name
    assert out.abs().sum() > 0 and all(g.abs().sum() > 0 for g in grads.values())


@pytest.mark.parametrize("c_in,c_out,mode,pairs", [
    (3, 5, None, None), (5, 3, None, None), (4, 4, None, None),
    (4, 3, "select", [[3, 0], [1, 2]]), (2, 4, "proj", None)])
def test_residual_folded_into_the_kernel_equals_the_added_residual(c_in, c_out, mode, pairs):
    torch.manual_seed(1)
    conv = TemporalConv(c_in, c_out, kernel_size=3)
    conv.align = ChannelAlign(c_in, c_out, mode=mode, pairs=pairs)
    x = torch.randn(2, 6, 5, c_in)
    # the matrix form of the alignment is the alignment
    assert torch.allclose(conv.align(x), x @ conv.align.matrix(x).t(), atol=1e-6)
    folded = conv(x)
    with reference_path():
        added = conv(x)
    assert torch.allclose(folded, added, atol=1e-5)
    if mode == "proj":  # the projection's weight gets its gradient through the kernel
        folded.sum().backward()
        assert conv.align.proj.weight.grad.abs().sum() > 0


def test_reference_path_restores_the_layers_and_the_allocator_setting():
    forward = TemporalConv.forward
    before = memory_retained()
    with reference_path():
        assert TemporalConv.forward is not forward
    assert TemporalConv.forward is forward and memory_retained() == before


def test_step_flops_count_a_convolution_forward_and_backward():
    # a Kt x 1 convolution of [B, T, N, C] -> [B, T', N, W]: 2*B*T'*N*C*Kt*W per product,
    # three products (forward, input gradient, weight gradient)
    conv = TemporalConv(4, 6, kernel_size=3, residual=False, activation="linear")
    x = torch.randn(2, 7, 5, 4, requires_grad=True)
    total, shares = step_flops(conv, lambda: conv(x).sum().backward())
    assert total == 3 * 2 * 2 * 5 * 5 * 4 * 3 * 6
    assert shares["other"] == pytest.approx(1.0)  # the module itself is the root


def test_roofline_rows_share_one_numerator(caplog):
    caplog.set_level(logging.INFO)
    rows = bench_roofline(models=("student",), sizes=((16, 2),), repeats=1, min_seconds=0.0)
    assert [r.path for r in rows] == ["reference", "reference, memory kept",
                                      "pygkd, conv weight gradient", "pygkd"]
    assert rows[0].gflop == rows[1].gflop == rows[2].gflop == rows[3].gflop > 0
    assert sum(rows[0].shares.values()) == pytest.approx(1.0)
    assert rows[0].shares["temporal"] > 0.5 and rows[0].shares["spatial"] > 0
    for r in rows:
        assert r.gflops == pytest.approx(r.gflop / r.step_s)
        assert r.matmul_gflops > 0 and r.user_s >= 0
    assert "| student | 16 | 2 | pygkd |" in caplog.text
    assert "| student | 16 | 2 | reference, memory kept |" in caplog.text
    assert "| student | 16 | 2 | pygkd, conv weight gradient |" in caplog.text
    # only today's is broken down
    assert rows[0].layer_seconds is rows[1].layer_seconds is rows[2].layer_seconds is None
    assert list(rows[3].layer_seconds) == ["temporal", "spatial", "norm"]
    assert min(rows[3].layer_seconds.values()) > 0
    for r in rows:  # oneDNN's product beside the BLAS's, where this PyTorch has oneDNN
        if torch.backends.mkldnn.is_available():
            assert r.onednn_gflops > 0 and r.onednn_share == pytest.approx(r.gflops
                                                                            / r.onednn_gflops)


def test_roofline_rows_keep_the_best_round(monkeypatch):
    import pygkd.bench.roofline as roofline

    # round 1, then round 2, for the four paths in order; (best, user, system, peak MB)
    steps = iter([0.5, 0.4, 0.3, 0.2, 0.1, 0.6, 0.35, 0.25])
    asked = []

    def fake_time_step(step, repeats, min_seconds):
        asked.append((repeats, min_seconds))
        return next(steps), 1.0 if len(asked) <= 4 else 2.0, 0.5, 7.0 + len(asked)

    monkeypatch.setattr(roofline, "time_step", fake_time_step)
    rows = bench_roofline(models=("student",), sizes=((16, 2),), repeats=3, min_seconds=1.0,
                          rounds=2)
    assert [r.step_s for r in rows] == [0.1, 0.4, 0.3, 0.2]  # the best of the two rounds
    assert asked == [(2, 0.5)] * 8  # the repeats and seconds are shared by the rounds
    assert all(r.user_s == pytest.approx(1.5) for r in rows)  # the rounds' mean (1.0 and 2.0)
    assert [r.peak_mb for r in rows] == [8.0, 9.0, 10.0, 11.0]  # the first round's
    assert rows[-1].layer_seconds is not None and rows[0].layer_seconds is None
    with pytest.raises(ValueError, match="rounds >= 1"):
        bench_roofline(models=("student",), sizes=((16, 2),), rounds=0)


def test_reference_path_can_leave_the_allocator_alone():
    # the middle row of the roofline: the reference layers with freed memory kept
    forward = TemporalConv.forward
    with freed_memory_retained(True):
        with reference_path(allocator=False):
            assert TemporalConv.forward is not forward and memory_retained()
        with reference_path():
            assert not memory_retained()
        assert memory_retained()
    assert TemporalConv.forward is forward


def test_short_steps_are_repeated_until_the_time_budget(monkeypatch):
    calls = []
    step = lambda: calls.append(1)  # noqa: E731
    best, user, system, _ = time_step(step, repeats=2, min_seconds=0.0)
    assert len(calls) == 1 + 2  # the untimed first call (peak memory), then the timed ones
    calls.clear()
    time_step(step, repeats=2, min_seconds=60.0)
    assert len(calls) == 1 + MAX_REPEATS  # a fast step stops at the cap, not after 60 s
    assert best >= 0 and user >= 0 and system >= 0
    clock = [0.0]  # steps of 20 ms on a fake clock: timed until 100 ms have passed
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    calls.clear()
    best, *_ = time_step(lambda: (calls.append(1), clock.__setitem__(0, clock[0] + 0.02)),
                         repeats=1, min_seconds=0.1)
    assert len(calls) == 1 + 5 and best == pytest.approx(0.02)


def test_layer_times_time_each_layer_alone_per_type(monkeypatch):
    # a fake clock that moves 10 ms in every spatial layer's forward and nowhere else: the
    # spatial seconds are 10 ms per spatial layer (best of the repeats), the others zero
    from pygkd.nn.blocks import SpatialGraphConv

    clock = [0.0]
    forward = SpatialGraphConv.forward

    def slow_forward(self, *args, **kwargs):
        clock[0] += 0.01
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(SpatialGraphConv, "forward", slow_forward)
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])
    ei, ew = toy_graph(6)
    model = STGCN(6, PRESETS["student"]).cache_graph(ei, ew).train()
    seconds = layer_times(model, torch.randn(2, 12, 6, 1), repeats=2)
    spatial = sum(isinstance(m, SpatialGraphConv) for m in model.modules())
    assert spatial == 2
    assert seconds == {"temporal": 0.0, "spatial": pytest.approx(0.01 * spatial),
                       "norm": 0.0}
    assert all(p.grad is None for p in model.parameters())  # timing leaves no gradients


def test_roofline_needs_the_pemsd7_graph(tmp_path):
    with pytest.raises(InputError, match="W_228.csv: not found") as err:
        bench_roofline(data_dir=tmp_path, sizes=((228, 2),), repeats=1)
    assert "--synthetic" not in str(err.value)  # roofline has no such option


def test_roofline_last_line(caplog):
    caplog.set_level(logging.INFO)
    shares = {"temporal": 0.8, "spatial": 0.2, "norm": 0.0, "other": 0.0}
    rows = [RooflineRow("teacher", 228, 50, "reference", 26.0, 0.52, 100.0, 0.5, 0.0, 1.0,
                        shares),
            RooflineRow("teacher", 228, 50, "pygkd", 26.0, 0.40, 100.0, 0.4, 0.0, 1.0, shares)]
    _print_table(rows)
    lines = caplog.text.strip().splitlines()
    assert lines[-1].endswith("teacher step: 65% of matmul peak (228 sensors)")
    assert "| 1.30x |" in caplog.text  # 0.52 / 0.40
    assert "teacher step" not in lines[-2]  # no oneDNN figure: no share of it
    caplog.clear()
    rows[1].onednn_gflops = 260.0
    _print_table(rows)
    lines = caplog.text.strip().splitlines()
    assert lines[-2].endswith("teacher step: 25% of oneDNN's matmul peak (228 sensors)")
    assert lines[-1].endswith("teacher step: 65% of matmul peak (228 sensors)")
    assert "| 260.0 | 25.0% |" in caplog.text
