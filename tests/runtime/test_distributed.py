"""Distributed data parallel with torchrun on gloo (CPU): the same weights and metrics as one
process with the same global batch, rank-0-only files, and a killed 2-process run resumes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from pygkd.runtime import shard_batch
from tests.conftest import no_data

TINY = ["--set", "data.options.num_nodes=6", "--set", "data.options.num_days=3",
        "--set", "data.options.steps_per_day=48", "--set", "data.split=1/1/1",
        "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1",
        "--batch-size", "10", "--quiet", "--device", "cpu"]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


def _pygkd(args, procs=1, **kwargs):
    if procs == 1:
        cmd = [sys.executable, "-m", "pygkd", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={procs}", "-m", "pygkd", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300,
                          **kwargs)


def _state(path):
    return torch.load(path, weights_only=True)["model_state"]


def _assert_same_run(one, two, atol=1e-4):
    """Same weights within ``atol`` (one optimiser step: 1e-6; over epochs the float sums of
    the two processes' gradients are reordered and differences grow), same test errors and
    training losses to 1e-4."""
    a, b = _state(one / "model.pt"), _state(two / "model.pt")
    assert list(a) == list(b)  # no "module." prefixes
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=0.0, atol=atol), key
    m1 = json.loads((one / "metrics.json").read_text())
    m2 = json.loads((two / "metrics.json").read_text())
    for horizon, values in m1["test"].items():
        for name, value in values.items():
            assert m2["test"][horizon][name] == pytest.approx(value, rel=1e-4, abs=1e-4)
    assert [h["loss"] for h in m1["history"]] == pytest.approx(
        [h["loss"] for h in m2["history"]], rel=1e-4)


def test_shard_batch_weights_add_up_to_the_global_mean():
    index = torch.arange(7)
    parts = [shard_batch(index, r, 3) for r in range(3)]
    assert torch.equal(torch.cat([p for p, _ in parts]), index)
    assert sum(w for _, w in parts) == pytest.approx(3.0)
    values = torch.randn(7)
    # DDP averages per-rank weighted means: that is the global mean
    mean = sum(w * values[p].mean() for p, w in parts) / 3
    assert float(mean) == pytest.approx(float(values.mean()), rel=1e-6)
    lone, weight = shard_batch(torch.arange(1), 1, 2)  # a rank left without windows
    assert lone.numel() == 1 and weight == 0.0


def test_two_processes_train_and_distill_like_one(tmp_path):
    """One optimiser step: the weights of 1 and 2 processes agree to 1e-6. Two epochs of
    distillation: within float reordering (1e-4 here; 3e-5 after one epoch and 7e-3 after two
    were measured on 228 sensors, where there are many more steps)."""
    train = ["train", "--preset", "student", "--epochs", "1", "--set", "train.max_batches=1",
             *TINY]
    for procs in (1, 2):
        result = _pygkd([*train, "--out", str(tmp_path / f"train{procs}")], procs)
        assert result.returncode == 0, result.stderr[-2000:]
    _assert_same_run(tmp_path / "train1", tmp_path / "train2", atol=1e-6)
    teacher = tmp_path / "train1" / "model.pt"
    distill = ["distill", "--teacher", str(teacher), "--loss", "stcd", "--epochs", "2",
               "--set", "model.blocks=[[1,2,4],[4,2,4]]", *no_data(TINY)]
    for procs in (1, 2):
        result = _pygkd([*distill, "--out", str(tmp_path / f"distill{procs}")], procs)
        assert result.returncode == 0, result.stderr[-2000:]
    _assert_same_run(tmp_path / "distill1", tmp_path / "distill2")
    # rank 0 alone prints the results table
    assert result.stdout.count("| Persistence") == 1


def test_a_killed_two_process_run_resumes(tmp_path):
    args = ["train", "--preset", "student", "--epochs", "6", *TINY]
    ref = _pygkd([*args, "--out", str(tmp_path / "ref")])
    assert ref.returncode == 0, ref.stderr[-2000:]
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc-per-node=2", "-m", "pygkd", *args, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(), start_new_session=True)
    deadline = time.time() + 240
    killed = False
    while time.time() < deadline and proc.poll() is None:
        if (out / "last.pt").exists():
            epoch = torch.load(out / "last.pt", weights_only=True)["state"]["epoch"]
            if 1 <= epoch < 6:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert killed, "the run ended before it could be killed"
    assert not (out / "model.pt").exists()
    resumed = _pygkd([*args, "--out", str(out)], procs=2)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stdout
    _assert_same_run(tmp_path / "ref", out)


def test_two_processes_prune_like_one(tmp_path):
    tiny = [a for a in TINY if a not in ("--batch-size", "10")] + ["--set", "train.batch_size=10"]
    result = _pygkd(["train", "--blocks", "1,4,8;8,4,8", "--epochs", "1", *tiny,
                     "--out", str(tmp_path / "base")])
    assert result.returncode == 0, result.stderr[-2000:]
    base = str(tmp_path / "base" / "model.pt")
    prune = ["prune", "--model", base, "--teacher", base, "--target", "0.5", "--set",
             "prune.step_share=0.3", "--set", "prune.pruning_minibatch=2", "--set",
             "prune.finetune_epochs=2", *no_data(tiny)]
    for procs in (1, 2):
        result = _pygkd([*prune, "--out", str(tmp_path / f"prune{procs}")], procs)
        assert result.returncode == 0, result.stderr[-2000:]
    _assert_same_run(tmp_path / "prune1", tmp_path / "prune2")
    assert (tmp_path / "prune1" / "channels.json").read_text() == \
        (tmp_path / "prune2" / "channels.json").read_text()


@pytest.mark.parametrize("device", ["cuda", "cuda:3", "mps"])
def test_launch_with_an_unavailable_device_is_one_line_once(tmp_path, device):
    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("MPS is present")
    result = subprocess.run([sys.executable, "-m", "pygkd", "launch", "--nproc-per-node", "2",
                             "train", "--device", device, "--out", str(tmp_path / "r")],
                            capture_output=True, text=True, env=_env(), timeout=300)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 2, lines
    assert len(lines) == 1 and lines[0].startswith("Error: --device"), lines
    assert "ChildFailedError" not in result.stderr and "Traceback" not in result.stderr
