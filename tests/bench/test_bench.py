"""The benchmarks run and print their side-by-side tables (timings are not asserted)."""

import re

import pytest
import torch
from click.testing import CliRunner

from pygkd.bench.kd import scd_peak_memory
from pygkd.cli import main


def test_spatial_benchmark_small_reports_equal_outputs():
    result = CliRunner().invoke(main, ["bench", "spatial", "--batch", "2", "--steps", "2",
                                       "--repeats", "1", "--no-loop", "--synthetic"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC random 228-node graph" in result.output  # the title says so
    assert "| stock ChebConv on [B*T, N, C] |" in result.output
    diff = float(re.search(r"output ([0-9.e+-]+)", result.output).group(1))
    assert diff < 1e-4


def test_scd_memory_probe_small():
    out = scd_peak_memory(batch=2, steps=2, nodes=20, channels=4)
    assert out["seconds"] > 0 and 0 <= out["growth_mb"] < out["process_peak_mb"]


def test_prune_benchmark_on_a_small_run(tmp_path):
    tiny = ["--set", "data.options.num_nodes=6", "--set", "data.options.num_days=3",
            "--set", "data.options.steps_per_day=48", "--set", "data.split=1/1/1",
            "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1"]
    runner = CliRunner()
    runner.invoke(main, ["train", "--blocks", "1,8,16;16,8,32", "--epochs", "1", "--quiet",
                         "--out", str(tmp_path / "t"), *tiny], catch_exceptions=False)
    teacher = str(tmp_path / "t" / "model.pt")
    result = runner.invoke(main, ["prune", "--model", teacher, "--teacher", teacher, "--target",
                                  "0.6", "--set", "prune.pruning_minibatch=2", "--set",
                                  "prune.step_share=0.3", "--set", "prune.finetune_epochs=0",
                                  "--set", "train.batch_size=4", "--quiet", "--out",
                                  str(tmp_path / "p"), *tiny[-4:]], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["bench", "prune", str(tmp_path / "p"), "--batch", "8",
                                  "--repeats", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    diff = float(re.search(r"masked\| on 64 test windows: ([0-9.e+-]+)", result.output).group(1))
    assert diff < 1e-5 and "| exported pruned STGCN |" in result.output


def test_scale_and_product_benchmarks_report_every_row(caplog):
    from pygkd.bench import bench_product, bench_scale

    caplog.set_level("INFO", logger="pygkd")
    rows = bench_scale(sizes=(30,), batch=2, repeats=1)
    row = rows[0]
    assert row["nodes"] == 30 and row["edges"] > 0 and "dense_s" in row
    assert row["operator_mb"] > 0
    for key in ("teacher_s", "student_s", "kd_s"):
        assert row[key] > 0, key
    assert caplog.messages[-1].startswith("| 30 |")
    results = bench_product(batch=2, repeats=1, synthetic=True)
    assert any(m.startswith("SYNTHETIC 207-node graph") for m in caplog.messages)
    assert set(results) == {"student", "student (per-slice)", "pruning-base",
                            "pruning-base (per-slice)", "teacher", "teacher (per-slice)"}
    assert all(v > 0 for v in results.values())


def test_recurrent_benchmark_reports_equal_outputs(caplog):
    from pygkd.bench import bench_recurrent

    caplog.set_level("INFO", logger="pygkd")
    results = bench_recurrent(batch=2, repeats=1, synthetic=True)
    assert set(results) == {"tgcn", "tgcn (reference)", "a3tgcn", "a3tgcn (reference)",
                            "gconvgru", "gconvgru (reference)"}
    assert all(v > 0 for v in results.values())
    rows = [m for m in caplog.messages if m.startswith(("| tgcn", "| a3tgcn", "| gconvgru"))]
    assert len(rows) == 3
    for row in rows:  # pygkd's products give PyG Temporal's own layers' forecasts
        assert float(row.rstrip(" |").rsplit("|", 1)[-1]) < 1e-5, row


@pytest.mark.parametrize("command, needs", [
    ("spatial", "W_228.csv"), ("models", "W_228.csv"), ("kd", "W_228.csv"),
    ("product", "los_adj.csv"), ("recurrent", "los_adj.csv"), ("compile", "los_adj.csv"),
    ("precision", "los_adj.csv")])
def test_benchmarks_without_their_real_graph_stop_and_say_how_to_go_on(command, needs, tmp_path):
    from tests.conftest import one_error

    result = CliRunner().invoke(main, ["bench", command, "--data-dir", str(tmp_path)])
    one_error(result, needs, str(tmp_path / needs), "--data-dir", "--synthetic")


def test_benchmarks_read_the_real_graph_from_data_dir(caplog):
    from pygkd.bench.timing import bench_graph
    from tests.conftest import SHARED_DATA, shared_file

    shared_file("W_228.csv")
    shared_file("los_adj.csv")
    adjacency, title = bench_graph("pemsd7m", SHARED_DATA)
    assert adjacency.shape == (228, 228) and title.startswith("PeMSD7(M) graph (")
    adjacency, title = bench_graph("los-loop", SHARED_DATA)
    assert adjacency.shape == (207, 207) and title.startswith("Los-loop graph (")
    result = CliRunner().invoke(main, ["bench", "spatial", "--batch", "2", "--steps", "2",
                                       "--repeats", "1", "--no-loop", "--data-dir",
                                       str(SHARED_DATA)], catch_exceptions=False)
    assert result.exit_code == 0 and "PeMSD7(M) graph (" in result.output


def test_spatial_benchmark_times_both_paths_on_a_sparse_graph():
    from tests.conftest import SHARED_DATA, shared_file

    shared_file("W_228.csv")
    result = CliRunner().invoke(main, ["bench", "spatial", "--batch", "2", "--steps", "2",
                                       "--repeats", "1", "--no-loop", "--sigma2", "0.1",
                                       "--data-dir", str(SHARED_DATA)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1,664 directed edges (3% dense)" in result.output
    assert "| FastChebConv (channel-last, cached sparse L) |" in result.output
    assert "| FastChebConv (node-major, cached sparse L) |" in result.output
    assert float(re.search(r"output ([0-9.e+-]+)", result.output).group(1)) < 1e-4


def test_skd_reference_computes_the_same_loss_and_gradient():
    """The benchmark's ``torch.cdist`` L_SKD against today's: equal up to the self-distances
    that cdist rounds above 0 (counted in its mean)."""
    from pygkd.bench.reference import structural_kd_cdist
    from pygkd.distill import functional as Fd

    torch.manual_seed(0)
    h_s = torch.randn(4, 2, 20, 6, dtype=torch.float64, requires_grad=True)
    h_t = torch.randn(4, 2, 20, 9, dtype=torch.float64)
    y = torch.randn(4, 20, dtype=torch.float64)
    before = structural_kd_cdist(h_s, h_t, y, torch.zeros_like(y), 0.4)
    (grad_before,) = torch.autograd.grad(before, h_s)
    today = Fd.structural_kd(h_s, h_t, y, torch.zeros_like(y), 0.4)
    (grad_today,) = torch.autograd.grad(today, h_s)
    assert float(today.detach()) == pytest.approx(float(before.detach()), rel=1e-3)
    torch.testing.assert_close(grad_today, grad_before, rtol=1e-2, atol=1e-5)
