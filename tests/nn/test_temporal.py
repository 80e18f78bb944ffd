import pytest
import torch

from pygkd.nn.layers import ChannelAlign, TemporalConv, TemporalGatedConv


def test_channel_align_rules():
    x = torch.arange(6, dtype=torch.float).view(1, 1, 2, 3)
    assert ChannelAlign(3, 3)(x) is x
    padded = ChannelAlign(3, 5)(x)
    assert padded[0, 0, 0].tolist() == [0.0, 1.0, 2.0, 0.0, 0.0]
    proj = ChannelAlign(3, 2)
    assert proj.proj.weight.shape == (2, 3) and proj.proj.bias is None


def test_gated_conv_hand_computed():
    conv = TemporalGatedConv(1, 1, kernel_size=2)
    with torch.no_grad():
        conv.conv.weight.copy_(torch.tensor([[[[1.0], [2.0]]], [[[0.0], [1.0]]]]))  # P, Q
        conv.conv.bias.copy_(torch.tensor([0.5, -1.0]))
    x = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)  # [B, T, N, C]
    out = conv(x)[0, :, 0, 0]
    # t=1: P = 1*1 + 2*2 + 0.5 = 5.5, residual x=2, Q = 2 - 1 = 1 -> 7.5 * sigmoid(1)
    # t=2: P = 2 + 6 + 0.5 = 8.5, residual 3, Q = 3 - 1 = 2 -> 11.5 * sigmoid(2)
    expected = torch.tensor([7.5 * torch.sigmoid(torch.tensor(1.0)),
                             11.5 * torch.sigmoid(torch.tensor(2.0))])
    assert torch.allclose(out, expected)


def test_relu_conv_with_residual_and_sigmoid_without():
    conv = TemporalConv(1, 2, kernel_size=1)
    with torch.no_grad():
        conv.conv.weight.copy_(torch.tensor([[[[-1.0]]], [[[2.0]]]]))
        conv.conv.bias.zero_()
    x = torch.tensor([3.0]).view(1, 1, 1, 1)
    # channels: [-3 + 3 (residual), 6 + 0 (padded)] -> relu
    assert conv(x)[0, 0, 0].tolist() == [0.0, 6.0]
    sig = TemporalConv(2, 2, 1, activation="sigmoid", residual=False)
    assert sig.align is None
    assert sum(p.numel() for p in sig.parameters()) == 2 * 2 + 2


@pytest.mark.parametrize("cin, cout, params", [(1, 32, 3 * 1 * 64 + 64),
                                                (64, 32, 3 * 64 * 64 + 64 + 64 * 32)])
def test_gated_conv_parameter_counts(cin, cout, params):
    assert sum(p.numel() for p in TemporalGatedConv(cin, cout).parameters()) == params


def test_errors_name_the_shape():
    with pytest.raises(ValueError, match="Expected 'x' as \\[batch, time, nodes, 2\\]"):
        TemporalConv(2, 2)(torch.zeros(1, 5, 3, 4))
    with pytest.raises(ValueError, match="at least 3 time steps"):
        TemporalConv(2, 2)(torch.zeros(1, 2, 3, 2))
    with pytest.raises(KeyError, match="Unknown activation"):
        TemporalConv(2, 2, activation="tanh")
