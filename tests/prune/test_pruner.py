import json

import pytest
import torch
from click.testing import CliRunner

from pygkd.cli import main
from pygkd.distill import DistillObjective
from pygkd.errors import InputError
from pygkd.nn import PRESETS, STGCN
from pygkd.prune import ChannelMasks, TaylorImportance, WeightMasks, pruned_share
from pygkd.testing import toy_forecast_dataset
from pygkd.train.checkpoint import load_model
from pygkd.train.config import DistillConfig, PruneConfig
from pygkd.train.trainer import next_step_mse
from tests.conftest import run_pruning, train_stgcn

TINY = ["--set", "data.options.num_nodes=6", "--set", "data.options.num_days=3",
        "--set", "data.options.steps_per_day=48", "--set", "data.split=1/1/1",
        "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1"]
FAST = ["--set", "train.batch_size=4", "--set", "prune.pruning_minibatch=2",
        "--set", "prune.step_share=0.3", "--set", "prune.finetune_epochs=1",
        "--set", "train.latency_batch=8", "--set", "train.latency_repeats=1", "--quiet"]


def test_group_scores_sum_weight_scores_per_channel():
    model = STGCN(5, PRESETS["student"])
    masks = ChannelMasks(model)
    scores = {n: torch.ones_like(p, dtype=torch.float64) for n, p in model.named_parameters()}
    groups = TaylorImportance.group_scores(scores, masks.groups)
    # blocks.0.hidden (c_t = 2): GLU conv P and Q rows 2 x 3 weights + 2 biases, residual pad
    # (no weights), Chebyshev rows and columns 3 x (2 + 2) (the diagonal entry, in both, counts
    # twice), Chebyshev bias 1, temporal2 conv columns 4 x 3: 6 + 2 + 12 + 1 + 12 = 33
    assert groups["blocks.0.hidden"].tolist() == [33.0, 33.0]


@pytest.mark.parametrize("mode", ["structured", "unstructured"])
def test_algorithm1_reaches_the_target(mode, tmp_path):
    ds = toy_forecast_dataset()
    torch.manual_seed(0)
    model = STGCN(6, PRESETS["pruning-base"])
    teacher = STGCN(6, PRESETS["teacher"])
    loss = DistillObjective(teacher, DistillConfig(loss="stcd"), ds.edge_index, ds.edge_weight)
    config = PruneConfig(mode=mode, target=0.6, step_share=0.3, pruning_minibatch=2)
    pruner = run_pruning(model, ds, loss, config, tmp_path)
    history = pruner.history
    shares = [h["pruned"] for h in history]
    assert shares == sorted(shares) and shares[-1] >= 0.6
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    if mode == "structured":
        sizes = [h["sizes"] for h in history]
        assert all(s1[k] >= s2[k] for s1, s2 in zip(sizes, sizes[1:], strict=False) for k in s1)
        assert min(sizes[-1].values()) >= 1


@pytest.mark.parametrize("mode", ["structured", "unstructured"])
def test_exact_target_shrinks_the_last_step(mode, tmp_path):
    ds = toy_forecast_dataset()
    shares = {}
    for exact in (False, True):
        torch.manual_seed(0)
        model = STGCN(6, PRESETS["pruning-base"])
        config = PruneConfig(mode=mode, target=0.6, step_share=0.3, pruning_minibatch=2,
                             exact_target=exact)
        pruner = run_pruning(model, ds, next_step_mse(ds.edge_index, ds.edge_weight), config,
                             tmp_path / str(exact))
        masks, history = pruner.masks, pruner.history
        shares[exact] = history[-1]["pruned"]
        assert history[-1]["pruned"] == pytest.approx(
            pruned_share(masks, sum(p.numel() for p in model.parameters())))
    # the paper's schedule passes 60 % (30 % of what remains per step): 66 % unstructured, 77 %
    # structured ([[1, 8, 16], [16, 8, 32]] -> channels (5, 11, 5, 22) -> (3, 7, 3, 15))
    assert shares[False] > 0.65
    assert 0.6 <= shares[True] < shares[False]
    # the shrunk step stops within one weight per layer / one channel per group of the target:
    # unstructured within 0.5 %, structured at channels (4, 10, 4, 20), 60.4 %
    assert shares[True] < (0.605 if mode == "unstructured" else 0.61)


def test_exact_target_must_be_true_or_false():
    expected = r"prune.exact_target: expected true or false \(got 'maybe'\)"
    with pytest.raises(InputError, match=expected):
        PruneConfig(exact_target="maybe").validate()


def test_mask_state_restores_masks_and_weights():
    torch.manual_seed(0)
    model = STGCN(6, PRESETS["student"])
    weights = WeightMasks(model)
    saved = weights.state()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    scores = {n: torch.rand_like(p) for n, p in model.named_parameters()}
    weights.prune(scores, 0.5)
    assert weights.nonzero_parameters() < sum(p.numel() for p in model.parameters())
    weights.restore(saved)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert all(bool(m.all()) for m in weights.masks.values())
    channels = ChannelMasks(model)
    saved = channels.state()
    channels.keep["blocks.0.hidden"][0] = False
    channels.restore(saved)
    assert all(bool(k.all()) for k in channels.keep.values())


def test_kd_and_task_scores_differ():
    ds = toy_forecast_dataset()
    torch.manual_seed(0)
    model = STGCN(6, PRESETS["pruning-base"])
    teacher = STGCN(6, PRESETS["teacher"])
    x, y = ds.batch("train", torch.arange(8))
    scores = []
    for step_loss in (DistillObjective(teacher, DistillConfig(loss="stcd", alpha3=1.0),
                                       ds.edge_index, ds.edge_weight),
                      next_step_mse(ds.edge_index, ds.edge_weight)):
        model.zero_grad()
        step_loss(model, x, y, torch.arange(8))[0].backward()
        scorer = TaylorImportance(model)
        scorer.accumulate()
        scores.append(scorer.average()["blocks.0.spatial.cheb.lins.0.weight"])
    assert not torch.allclose(scores[0], scores[1])


def test_prune_command_structured_exports_a_smaller_model(tmp_path):
    teacher = train_stgcn(tmp_path, "t", "1,8,16;16,8,32")
    result = CliRunner().invoke(main, ["prune", "--model", str(teacher), "--teacher", str(teacher),
                                       "--target", "0.5", "--out", str(tmp_path / "p"), *FAST],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Channels kept per layer" in result.output
    metrics = json.loads((tmp_path / "p" / "metrics.json").read_text())
    small, payload = load_model(tmp_path / "p" / "model.pt")
    count = sum(p.numel() for p in small.parameters())
    assert count == metrics["model"]["parameters"] < metrics["base_parameters"]
    assert metrics["pruned_share"] >= 0.5
    kept = json.loads((tmp_path / "p" / "channels.json").read_text())["sizes"]
    assert small.block_channels[0][1] == kept["blocks.0.hidden"]
    evaluated = CliRunner().invoke(main, ["evaluate", str(tmp_path / "p" / "model.pt"),
                                          "--latency-batch", "8"], catch_exceptions=False)
    assert evaluated.exit_code == 0 and f"| {count:,} |" in evaluated.output


def test_prune_command_unstructured_counts_nonzero(tmp_path):
    base = train_stgcn(tmp_path, "b", "1,4,8;8,4,8")
    result = CliRunner().invoke(main, ["prune", "--model", str(base), "--method", "taylor",
                                       "--mode", "unstructured", "--target", "0.5",
                                       "--exact-target", "--out", str(tmp_path / "u"), *FAST],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "u" / "metrics.json").read_text())
    model, _ = load_model(tmp_path / "u" / "model.pt")
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    assert nonzero == metrics["nonzero_parameters"] <= 0.5 * metrics["base_parameters"]
    # --exact-target: the last step is shrunk (30 % steps alone reach 52.0 % here); it still
    # takes one weight from each of the 27 layers, so it lands at 50.7 % of 1,478
    assert metrics["prune"]["exact_target"] is True
    assert 0.5 <= metrics["pruned_share"] < 0.51


def test_prune_bad_input(tmp_path):
    base = train_stgcn(tmp_path, "b", "1,4,8;8,4,8")
    runner = CliRunner()
    bad = runner.invoke(main, ["prune", "--model", str(base), "--teacher", str(base),
                               "--target", "1.2"])
    assert bad.exit_code == 2 and "prune.target: expected a value < 1 (got 1.2)" in bad.output
    (tmp_path / "x.pt").write_text("not a model")
    bad = runner.invoke(main, ["prune", "--model", str(tmp_path / "x.pt"), "--teacher", str(base)])
    assert bad.exit_code == 2 and "not a readable pygkd checkpoint" in bad.output
    other = CliRunner().invoke(main, ["train", "--blocks", "1,4,8;8,4,8", "--epochs", "1",
                                      "--quiet", "--out", str(tmp_path / "o"), *TINY[:-4],
                                      "--set", "data.options.num_nodes=7", *TINY[-4:]],
                               catch_exceptions=False)
    assert other.exit_code == 0, other.output
    bad = runner.invoke(main, ["prune", "--model", str(base), "--teacher",
                               str(tmp_path / "o" / "model.pt")])
    assert bad.exit_code == 2 and "different graphs" in bad.output
