"""Benchmarks that print figures and ratios measured side by side in one run."""

from pygkd.bench.ddp import bench_ddp
from pygkd.bench.kd import bench_kd
from pygkd.bench.models import bench_models
from pygkd.bench.prune import bench_prune
from pygkd.bench.roofline import bench_roofline
from pygkd.bench.scale import bench_scale
from pygkd.bench.serve import bench_serve
from pygkd.bench.spatial import bench_spatial
from pygkd.bench.training import bench_compile, bench_precision, bench_product, bench_recurrent

__all__ = ["bench_compile", "bench_ddp", "bench_kd", "bench_models", "bench_precision",
           "bench_product", "bench_prune", "bench_recurrent", "bench_roofline", "bench_scale",
           "bench_serve", "bench_spatial"]
