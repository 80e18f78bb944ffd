import pytest
import torch

from pygkd.nn import PRESETS, STGCN
from pygkd.nn.models.stgcn_channels import stgcn_channel_groups
from pygkd.prune.masks import ChannelMasks, WeightMasks
from pygkd.testing import toy_graph


def stgcn_parameter_count(num_nodes, blocks, residuals=None, kernel_size=3, K=3, n_in=12):
    """Parameters implied by a configuration (SPEC section 1), by hand."""
    residuals = residuals or {}
    total = 0
    for i, (c_in, c_t, c_out) in enumerate(blocks):
        total += kernel_size * c_in * 2 * c_t + 2 * c_t + K * c_t * c_t + c_t
        total += kernel_size * c_t * c_out + c_out + 2 * num_nodes * c_out
        for path, (a, b) in ((f"blocks.{i}.temporal1.align", (c_in, c_t)),
                             (f"blocks.{i}.temporal2.align", (c_t, c_out))):
            mode = residuals.get(path, {}).get("mode", "proj" if a > b else "select")
            total += a * b if mode == "proj" else 0
    c = blocks[-1][2]
    k_out = n_in - 2 * len(blocks) * (kernel_size - 1)
    return total + k_out * c * 2 * c + 2 * c + 2 * num_nodes * c + c * c + c + c + num_nodes


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_hand_count_matches_presets(preset):
    assert stgcn_parameter_count(228, PRESETS[preset]) == sum(
        p.numel() for p in STGCN(228, PRESETS[preset]).parameters())


def _perturbed(blocks, n=5, seed=0):
    torch.manual_seed(seed)
    model = STGCN(n, blocks)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.mark.parametrize("blocks", [PRESETS["pruning-base"], [[1, 4, 8], [8, 12, 6]],
                                    [[1, 6, 3], [3, 5, 9]]])
@pytest.mark.parametrize("seed", [0, 1])
def test_export_equals_masked_model_and_has_the_implied_size(blocks, seed):
    ei, ew = toy_graph(5)
    model = _perturbed(blocks, seed=seed)
    masks = ChannelMasks(model)
    g = torch.Generator().manual_seed(seed)
    for keep in masks.keep.values():  # drop about half of every group, at random
        drop = torch.randperm(keep.numel(), generator=g)[: keep.numel() // 2]
        keep[drop] = False
    x = torch.randn(3, 12, 5, 1, generator=g)
    with masks:
        expected = model(x, ei, ew)
    small = masks.export()
    assert torch.allclose(small(x, ei, ew), expected, atol=1e-5)
    config = small.config()
    rebuilt = STGCN.from_config(config)
    count = sum(p.numel() for p in small.parameters())
    assert count == sum(p.numel() for p in rebuilt.parameters())
    assert count == stgcn_parameter_count(5, config["blocks"], config.get("residuals"))
    assert count < sum(p.numel() for p in model.parameters())
    assert not any(m._forward_hooks for m in model.modules())


def test_groups_cover_every_parameter_except_input_and_readout_bias():
    model = STGCN(5, PRESETS["student"])
    covered = {s.param for g in stgcn_channel_groups(model) for s in g.slices}
    names = {n for n, _ in model.named_parameters()}
    assert names - covered == {"output.fc.bias"}


def test_masked_layernorm_uses_kept_channels_only():
    ei, ew = toy_graph(5)
    model = _perturbed(PRESETS["student"])
    masks = ChannelMasks(model)
    masks.keep["blocks.0.out"][1] = False
    captured = {}
    x = torch.randn(2, 12, 5, 1)
    with masks:  # hooks run in order: the capture, added last, sees the masked output
        handle = model.blocks[0].norm.register_forward_hook(
            lambda m, i, o: captured.update(inp=i[0], out=o))
        model(x, ei, ew)
        handle.remove()
    out, inp = captured["out"], captured["inp"]
    assert torch.all(out[..., 1] == 0)
    kept = inp[..., [0, 2, 3]]
    norm = model.blocks[0].norm
    manual = (kept - kept.mean(dim=(-2, -1), keepdim=True)) / torch.sqrt(
        kept.var(dim=(-2, -1), unbiased=False, keepdim=True) + norm.eps)
    manual = manual * norm.weight[:, [0, 2, 3]] + norm.bias[:, [0, 2, 3]]
    assert torch.allclose(out[..., [0, 2, 3]], manual, atol=1e-6)


def test_weight_masks_keep_pruned_weights_at_zero():
    model = STGCN(5, PRESETS["student"])
    masks = WeightMasks(model)
    scores = {n: p.detach().abs() for n, p in model.named_parameters() if n in masks.names}
    total = sum(p.numel() for p in model.parameters())
    masks.prune(scores, 0.5)
    first = masks.nonzero_parameters()
    assert first < 0.6 * total
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    masks.apply()
    assert masks.nonzero_parameters() == sum(int(m.sum()) for m in masks.masks.values()) + \
        model.output.fc.weight.numel() + model.output.fc.bias.numel()
    assert "output.fc.weight" not in masks.names
