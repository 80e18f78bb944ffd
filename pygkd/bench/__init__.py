"""Benchmarks that print figures and ratios measured side by side in one run."""

from pygkd.bench.kd import bench_kd
from pygkd.bench.models import bench_models
from pygkd.bench.prune import bench_prune
from pygkd.bench.spatial import bench_spatial

__all__ = ["bench_kd", "bench_models", "bench_prune", "bench_spatial"]
