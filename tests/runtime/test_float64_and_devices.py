"""The pipelines in float64 (every tensor the library creates must follow its inputs' dtype and
device), the CLI with --device, mixed precision and compile."""

import pytest
import torch
from click.testing import CliRunner

from pygkd.cli import main
from pygkd.distill import DistillObjective
from pygkd.errors import InputError
from pygkd.nn import PRESETS, STGCN
from pygkd.runtime import Precision, resolve_device
from pygkd.testing import toy_forecast_dataset
from pygkd.train.config import DistillConfig, PruneConfig, TrainConfig
from pygkd.train.evaluate import evaluate_model
from pygkd.train.trainer import Trainer
from tests.conftest import no_data, run_pruning

TINY_TRAIN = TrainConfig(epochs=1, batch_size=8, max_batches=3, eval_batch_size=16)


def _models():
    torch.manual_seed(0)
    return STGCN(6, [[1, 4, 8], [8, 4, 8]]).double(), STGCN(6, PRESETS["student"]).double()


def _is_float64(model):
    return all(p.dtype == torch.float64 for p in model.parameters())


@pytest.mark.parametrize("loss", ["none", "skd", "stcd"])
def test_train_and_distill_end_to_end_in_float64(tmp_path, loss):
    ds = toy_forecast_dataset()
    teacher, student = _models()
    Trainer(teacher, ds, TINY_TRAIN, tmp_path / "t", device="cpu").fit(progress=False)
    # exact and sampled L_SCD, cached and on the fly
    for scd_nodes, cache_gb in ((None, 1.0), (3, 0.0)):
        objective = DistillObjective(teacher, DistillConfig(loss=loss, scd_nodes=scd_nodes),
                                     ds.edge_index, ds.edge_weight,
                                     num_windows=ds.num_samples("train"), cache_gb=cache_gb)
        trainer = Trainer(student, ds, TINY_TRAIN, tmp_path / f"s-{loss}-{cache_gb}",
                          step_loss=objective, device="cpu")
        trainer.fit(progress=False)
        assert trainer.dataset.series.dtype == torch.float64
        if objective.cache is not None:
            assert all(v.dtype == torch.float64 for v in objective.cache.store.values())
    assert _is_float64(teacher) and _is_float64(student)
    metrics = evaluate_model(student, ds, "test")
    assert metrics["90min"]["MAE"] > 0  # 48 steps a day: step 3 is 90 min


@pytest.mark.parametrize("mode", ["structured", "unstructured"])
def test_prune_end_to_end_in_float64(tmp_path, mode):
    ds = toy_forecast_dataset()
    teacher, _ = _models()
    base = STGCN(6, [[1, 4, 8], [8, 4, 8]]).double()
    objective = DistillObjective(teacher, DistillConfig(loss="stcd"), ds.edge_index,
                                 ds.edge_weight, num_windows=ds.num_samples("train"))
    config = PruneConfig(mode=mode, target=0.5, step_share=0.3, pruning_minibatch=1)
    pruner = run_pruning(base, ds, objective, config, tmp_path / "phase", TINY_TRAIN)
    masks, history = pruner.masks, pruner.history
    assert history and history[-1]["pruned"] >= 0.5
    if mode == "structured":
        small = masks.export()
        assert _is_float64(small)
        Trainer(small, ds, TINY_TRAIN, tmp_path / "ft", step_loss=objective,
                device="cpu").fit(progress=False)
    else:
        masks.apply()
        assert _is_float64(base)


def test_checkpoints_are_device_free(tmp_path):
    ds = toy_forecast_dataset()
    _, student = _models()
    trainer = Trainer(student, ds, TINY_TRAIN, tmp_path, device="cpu")
    trainer.fit(progress=False)
    payload = torch.load(tmp_path / "last.pt", weights_only=True)
    tensors = [*payload["model_state"].values(), *payload["best_state"].values()]
    assert all(t.device.type == "cpu" for t in tensors)
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in payload["model_state"])


def test_resolve_device_and_clear_errors():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(InputError, match="expected auto"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            resolve_device("cuda:0")


def test_bf16_autocast_trains_and_keeps_kd_distances_in_float32(tmp_path):
    ds = toy_forecast_dataset()
    teacher, student = (m.float() for m in _models())
    objective = DistillObjective(teacher, DistillConfig(loss="stcd"), ds.edge_index,
                                 ds.edge_weight, num_windows=ds.num_samples("train"))
    config = TrainConfig(epochs=1, batch_size=8, max_batches=2, precision="bf16")
    trainer = Trainer(student, ds, config, tmp_path, step_loss=objective, device="cpu")
    trainer.fit(progress=False)
    assert all(v.dtype == torch.float32 for v in objective.cache.store.values())
    assert all(p.dtype == torch.float32 for p in student.parameters())
    x, y = ds.batch("train", torch.arange(4))
    with Precision("bf16").autocast():
        loss, logs = objective(student, x, y, torch.arange(4))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_cli_trains_and_distils_with_an_explicit_device(tmp_path):
    tiny = ["--set", "data.options.num_nodes=6", "--set", "data.options.num_days=3",
            "--set", "data.options.steps_per_day=48", "--set", "data.split=1/1/1",
            "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1",
            "--set", "train.max_batches=2", "--epochs", "1", "--quiet", "--device", "cpu"]
    runner = CliRunner()
    result = runner.invoke(main, ["train", "--preset", "student", "--out",
                                  str(tmp_path / "t"), *tiny], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["distill", "--teacher", str(tmp_path / "t" / "model.pt"),
                                  "--out", str(tmp_path / "s"), "--scd-nodes", "4",
                                  "--precision", "bf16", *no_data(tiny)],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    import yaml

    config = yaml.safe_load((tmp_path / "s" / "config.yaml").read_text())
    assert config["device"] == "cpu" and config["distill"]["scd_nodes"] == 4
    assert config["train"]["precision"] == "bf16"
    bad = runner.invoke(main, ["train", "--out", str(tmp_path / "x"), "--device", "tpu",
                               *tiny[:-2]])
    assert bad.exit_code == 2 and "--device: expected" in bad.output
