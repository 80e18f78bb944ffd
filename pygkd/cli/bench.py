"""``pygkd bench``: benchmarks printed side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from pygkd.cli.main import main
from pygkd.cli.options import runtime_options


def graph_options(func: Any) -> Any:
    """``--data-dir`` (where the benchmark's real graph file is) and ``--synthetic``."""
    func = click.option("--synthetic", is_flag=True,
                        help="Time a synthetic graph of the same size instead of the real one "
                             "(the table title says so).")(func)
    return click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                        default=None,
                        help="Folder holding the real graph file (W_228.csv / los_adj.csv) "
                             "[the data folder]; without it the benchmark stops.")(func)


@main.group(invoke_without_command=True)
@click.pass_context
def bench(ctx: click.Context) -> None:
    """Benchmarks: 'spatial' (FastChebConv vs ChebConv), 'models' (teacher vs student),
    'kd', 'prune', 'scale', 'product', 'compile', 'precision', 'ddp', 'serve' and
    'roofline' (a training step against this machine's matmul peak).

    Without a subcommand, runs 'spatial' and 'models' with their defaults.
    """
    if ctx.invoked_subcommand != "roofline":  # roofline times glibc's defaults as well
        from pygkd.runtime.memory import retain_unless_disabled

        retain_unless_disabled()
    if ctx.invoked_subcommand is None:
        ctx.invoke(spatial)
        click.echo("")
        ctx.invoke(models)


@bench.command()
@click.option("--batch", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--channels", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--sigma2", type=float, default=10.0, show_default=True,
              help="Kernel width for W_228.csv (10 = the paper's 44,050-edge graph).")
@click.option("--w228", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Path of W_228.csv [searched in the data folder].")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed runs of FastChebConv (the slow baselines run once).")
@click.option("--no-loop", is_flag=True, help="Skip the per-slice loop (the slowest part).")
@graph_options
@runtime_options(training=False)
def spatial(batch: int, steps: int, channels: int, sigma2: float, w228: Path | None,
            repeats: int, no_loop: bool, data_dir: Path | None, synthetic: bool,
            device: str | None = None) -> None:
    """FastChebConv vs stock ChebConv vs PyG Temporal's per-slice loop (forward + backward)."""
    from pygkd.bench import bench_spatial

    bench_spatial(batch, steps, channels, sigma2, w228, repeats, loop=not no_loop,
                  device=device or "auto", data_dir=data_dir, synthetic=synthetic)


@bench.command()
@click.option("--batch", type=click.IntRange(min=1), default=1140, show_default=True,
              help="Samples per forward pass (the paper uses 1,140).")
@click.option("--repeats", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--w228", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Path of W_228.csv [searched in the data folder].")
@click.option("--sigma2", type=float, default=0.1, show_default=True,
              help="Kernel width for W_228.csv (10: the paper's 85 %-dense graph).")
@graph_options
@runtime_options(training=False)
def models(batch: int, repeats: int, w228: Path | None, sigma2: float, data_dir: Path | None,
           synthetic: bool, device: str | None = None) -> None:
    """Teacher, pruning base and student: parameters, FLOPs and forward latency."""
    from pygkd.bench import bench_models

    bench_models(batch, repeats, sigma2=sigma2, w228=w228, device=device or "auto",
                 data_dir=data_dir, synthetic=synthetic)


@bench.command()
@click.option("--batch", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--w228", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Path of W_228.csv [searched in the data folder].")
@graph_options
@runtime_options(training=False)
def kd(batch: int, repeats: int, w228: Path | None, data_dir: Path | None, synthetic: bool,
       device: str | None = None) -> None:
    """One KD step (L_STCD) vs plain student and teacher steps; L_SCD time and peak memory."""
    from pygkd.bench import bench_kd

    bench_kd(batch, repeats, w228, device=device or "auto", data_dir=data_dir,
             synthetic=synthetic)


@bench.command("prune")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--student", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A hand-designed student (model.pt) to time beside the pruned model.")
@click.option("--batch", type=click.IntRange(min=1), default=1140, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=10, show_default=True)
@runtime_options(training=False)
def prune_bench(run_dir: Path, student: Path | None, batch: int, repeats: int,
                device: str | None = None) -> None:
    """Base vs masked vs exported model of a structured 'pygkd prune' RUN_DIR."""
    from pygkd.bench import bench_prune

    bench_prune(run_dir, student, batch, repeats, device=device or "auto")


def _sizes(text: str) -> tuple[int, ...]:
    from pygkd.errors import InputError

    try:
        sizes = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 4:
        raise InputError(f"--sizes: expected comma-separated sensor counts >= 4 (got {text!r})")
    return sizes


@bench.command()
@click.option("--sizes", default="228,1000,2000,4000,8600", show_default=True,
              help="Sensor counts of the synthetic networks.")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--scd-nodes", type=int, default=256, show_default=True,
              help="Nodes of the sampled L_SCD in the KD step.")
@click.option("--repeats", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--dense-limit", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Largest N for the dense reference operator (47 s and 2.5 GB at 8,600).")
@runtime_options(training=False)
def scale(sizes: str, batch: int, scd_nodes: int, repeats: int, dense_limit: int,
          device: str | None = None) -> None:
    """Operator build, teacher/student training steps and a sampled-L_SCD KD step from 228 to
    8,600 sensors."""
    from pygkd.bench import bench_scale

    bench_scale(_sizes(sizes), batch, scd_nodes, repeats, dense_limit,
                device=device or "auto")


@bench.command()
@click.option("--batch", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@graph_options
@runtime_options(training=False)
def product(batch: int, repeats: int, data_dir: Path | None, synthetic: bool,
           device: str | None = None) -> None:
    """Training steps with one graph product per propagation vs the per-slice product."""
    from pygkd.bench import bench_product

    bench_product(batch, repeats, data_dir, synthetic, device=device or "auto")


@bench.command()
@click.option("--batch", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@graph_options
@runtime_options(training=False)
def recurrent(batch: int, repeats: int, data_dir: Path | None, synthetic: bool,
           device: str | None = None) -> None:
    """Recurrent students' training steps: pygkd's graph products vs PyG Temporal's layers."""
    from pygkd.bench import bench_recurrent

    bench_recurrent(batch, repeats, data_dir, synthetic, device=device or "auto")


@bench.command("compile")
@click.option("--batch", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True)
@graph_options
@runtime_options(training=False)
def compile_bench(batch: int, repeats: int, data_dir: Path | None, synthetic: bool,
                  device: str | None = None) -> None:
    """Eager vs torch.compile(fullgraph=True) training steps of teacher and student."""
    from pygkd.bench import bench_compile

    bench_compile(batch, repeats, data_dir, synthetic, device=device or "auto")


@bench.command()
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True,
              help="Epochs of the accuracy runs (student, synthetic network).")
@click.option("--batch", type=click.IntRange(min=1), default=50, show_default=True)
@graph_options
@runtime_options(training=False)
def precision(epochs: int, batch: int, data_dir: Path | None, synthetic: bool,
              device: str | None = None) -> None:
    """float32 vs bfloat16: training-step time and the accuracy it trains to."""
    from pygkd.bench import bench_precision

    bench_precision(epochs=epochs, batch=batch, data_dir=data_dir, synthetic=synthetic,
                    device=device or "auto")


@bench.command()
@click.option("--processes", default="1,2", show_default=True,
              help="Process counts to compare (the first is the reference).")
@click.option("--preset", type=click.Choice(["teacher", "pruning-base", "student"]),
              default="teacher", show_default=True)
@click.option("--nodes", type=click.IntRange(min=1), default=228, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=50, show_default=True,
              help="Global batch.")
def ddp(processes: str, preset: str, nodes: int, epochs: int, batch: int) -> None:
    """One process vs torchrun with N processes (gloo), same global batch: time per epoch.

    Runs on the CPU (gloo); on GPUs run 'torchrun ... -m pygkd train --device cuda' directly."""
    from pygkd.bench import bench_ddp
    from pygkd.errors import InputError

    try:
        counts = tuple(int(v) for v in processes.split(",") if v.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise InputError(f"--processes: expected comma-separated counts >= 1 (got {processes!r})")
    bench_ddp(counts, preset, nodes, epochs, batch)


@bench.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--batch", type=click.IntRange(min=1), default=1140, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=20, show_default=True,
              help="Timed runs of the batch.")
@click.option("--single-repeats", type=click.IntRange(min=1), default=200, show_default=True,
              help="Timed runs of one window.")
@click.option("--compile", "with_compile", is_flag=True,
              help="Add a torch.compile row (on CPU it was slower than eager and took minutes "
                   "to compile, so it is off by default).")
@click.option("--no-onnx", is_flag=True, help="Skip the ONNX Runtime rows.")
@runtime_options(training=False)
def serve(models: tuple[Path, ...], batch: int, repeats: int, single_repeats: int,
          with_compile: bool, no_onnx: bool, device: str | None = None) -> None:
    """Serving latency (p50/p99, one window and a batch) of MODELS in eager PyTorch and ONNX
    Runtime (torch.compile with --compile), with accuracy on the test split."""
    from pygkd.bench import bench_serve

    bench_serve(models, batch, repeats, single_repeats, with_compile, not no_onnx,
                device=device or "auto")


@bench.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding W_228.csv [the data folder]; without it the benchmark stops.")
@click.option("--sigma2", type=float, default=0.1, show_default=True,
              help="Kernel width for W_228.csv.")
@click.option("--nodes", type=click.IntRange(min=4), default=8600, show_default=True,
              help="Sensors of the large (synthetic) size.")
@click.option("--large-batch", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=50, show_default=True,
              help="Batch at 228 sensors.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed steps per row at least (the best is reported).")
@click.option("--min-seconds", type=click.FloatRange(min=0), default=3.0, show_default=True,
              help="Repeat short steps until this much time has passed (up to 50 steps).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--rounds", type=click.IntRange(min=1), default=2, show_default=True,
              help="Time the paths in turn this many times over; each row keeps its best step "
                   "(the repeats and seconds above are shared by the rounds).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the rows to this JSON file.")
def roofline(data_dir: Path | None, sigma2: float, nodes: int, large_batch: int, batch: int,
             repeats: int, min_seconds: float, threads: int, rounds: int,
             json_path: Path | None) -> None:
    """Teacher and student training steps at 228 and 8,600 sensors against this process's
    matmul GFLOP/s: the reference path (the layers before tuning), the same layers with freed
    memory kept in the process, today's with oneDNN's convolution weight gradients, and
    today's, side by side."""
    import json

    from pygkd.bench.roofline import bench_roofline, rows_as_dicts
    from pygkd.files import write_atomic

    rows = bench_roofline(data_dir, sigma2, sizes=((228, batch), (nodes, large_batch)),
                          repeats=repeats, threads=threads, min_seconds=min_seconds,
                          rounds=rounds)
    if json_path is not None:
        write_atomic(json_path, json.dumps(rows_as_dicts(rows), indent=2))
