"""The benchmarks run and print their side-by-side tables (timings are not asserted)."""

import re

from click.testing import CliRunner

from pygkd.bench.kd import scd_peak_memory
from pygkd.cli import main


def test_spatial_benchmark_small_reports_equal_outputs():
    result = CliRunner().invoke(main, ["bench", "spatial", "--batch", "2", "--steps", "2",
                                       "--repeats", "1", "--no-loop"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "| stock ChebConv on [B*T, N, C] |" in result.output
    diff = float(re.search(r"output ([0-9.e+-]+)", result.output).group(1))
    assert diff < 1e-4


def test_scd_memory_probe_small():
    out = scd_peak_memory(batch=2, steps=2, nodes=20, channels=4)
    assert out["seconds"] > 0 and 0 <= out["growth_mb"] < out["process_peak_mb"]
