import json

import pytest
import torch

from pygkd.errors import InputError
from pygkd.testing import toy_forecast_dataset
from pygkd.train import RunConfig, Trainer, build_model, load_checkpoint, run_evaluate, run_train

FAST = {"seed": 0, "data": {"name": "synthetic", "split": "1/1/1",
                            "options": {"num_nodes": 6, "num_days": 3, "steps_per_day": 48}},
        "model": {"preset": "student"},
        "train": {"epochs": 3, "batch_size": 8, "lr": 0.01, "latency_batch": 16,
                  "latency_repeats": 2}}


def _trainer(tmp_path, epochs=3, after_step=None):
    cfg = RunConfig.from_dict({**FAST, "train": {**FAST["train"], "epochs": epochs}})
    ds = toy_forecast_dataset()
    model = build_model(cfg, ds.num_nodes)
    return Trainer(model, ds, cfg.train, tmp_path, seed=0, meta={"run": cfg.to_dict()},
                   after_step=after_step)


def test_training_lowers_the_loss(tmp_path):
    trainer = _trainer(tmp_path, epochs=4)
    state = trainer.fit(progress=False)
    losses = [h["loss"] for h in state.history]
    assert losses[-1] < losses[0]
    assert [h["lr"] for h in state.history] == pytest.approx([0.01] * 4)
    assert state.best_val == min(h["val_mae"] for h in state.history)


def test_lr_decays_by_0_7_every_5_epochs(tmp_path):
    trainer = _trainer(tmp_path, epochs=6)
    trainer.config.max_batches = 1
    trainer.config.patience = 10
    state = trainer.fit(progress=False)
    assert [h["lr"] for h in state.history] == pytest.approx([0.01] * 5 + [0.007])


def test_killed_run_resumes_to_the_same_result(tmp_path, caplog):
    reference = _trainer(tmp_path / "ref")
    reference.fit(progress=False)

    steps = {"n": 0}

    def kill_in_epoch_two():
        steps["n"] += 1
        if steps["n"] == 6:  # 4 batches per epoch: dies inside epoch 2
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _trainer(tmp_path / "run", after_step=kill_in_epoch_two).fit(progress=False)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["state"]["epoch"] == 1
    resumed = _trainer(tmp_path / "run")
    caplog.set_level("INFO", logger="pygkd")
    caplog.clear()
    resumed.fit(progress=False)
    assert caplog.messages[0].startswith("resuming")
    assert [h["epoch"] for h in resumed.state.history] == [1, 2, 3]
    for a, b in zip(reference.model.state_dict().values(), resumed.model.state_dict().values(),
                    strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert resumed.state.history[-1]["val_mae"] == pytest.approx(
        reference.state.history[-1]["val_mae"], rel=1e-5)


def test_resume_refuses_a_different_configuration(tmp_path):
    _trainer(tmp_path, epochs=1).fit(progress=False)
    other = _trainer(tmp_path, epochs=2)
    with pytest.raises(InputError, match="different configuration"):
        other.fit(progress=False)


def test_run_folder_contents_and_evaluate(tmp_path):
    cfg = RunConfig.from_dict(FAST)
    metrics = run_train(cfg, tmp_path, progress=False)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.yaml", "last.pt", "model.pt",
                                                     "metrics.json"}
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert set(saved["test"]) == {"90min", "180min", "270min"}  # 30-minute steps
    assert saved["model"]["parameters"] == metrics["model"]["parameters"]
    again = run_evaluate(tmp_path / "model.pt", latency_batch=8, latency_repeats=1)
    assert again["test"]["90min"]["MAE"] == pytest.approx(saved["test"]["90min"]["MAE"], rel=1e-5)
    assert again["persistence_test"] == saved["persistence_test"]


class CountingCallback:
    """Records the points the trainer calls; asks to stop after ``stop_after`` steps."""

    def __init__(self, stop_after):
        self.stop_after, self.calls, self.steps = stop_after, [], 0

    def after_backward(self):
        self.calls.append("backward")

    def after_step(self):
        self.calls.append("step")
        self.steps += 1

    @property
    def stop_training(self):
        return self.steps >= self.stop_after

    def state_dict(self):
        return {"steps": self.steps, "calls": list(self.calls)}

    def load_state_dict(self, state):
        self.steps, self.calls = state["steps"], list(state["calls"])


def test_callbacks_run_at_every_step_and_can_stop_training(tmp_path):
    """A callback sees the gradients before the optimiser step, stops training mid-epoch, and
    its state is saved in last.pt and restored on resume."""
    trainer = _trainer(tmp_path, epochs=3)
    callback = CountingCallback(stop_after=5)  # 28 windows, batch 8: 4 steps an epoch
    trainer.callbacks.append(callback)
    trainer.restore_best = False
    state = trainer.fit(progress=False)
    assert callback.calls == ["backward", "step"] * 5
    assert state.epoch == 2 and trainer.stopped
    saved = load_checkpoint(tmp_path / "last.pt")["callbacks"]
    assert saved == [{"steps": 5, "calls": ["backward", "step"] * 5}]
    again = _trainer(tmp_path, epochs=3)
    fresh = CountingCallback(stop_after=5)
    again.callbacks.append(fresh)
    assert again.resume() and fresh.steps == 5 and again.finished
