"""Neural network modules: layers -> blocks -> models, all ``[B, T, N, C]`` at the boundaries."""

from pygkd.nn.blocks import NodeReadout, OutputBlock, SpatialGraphConv, STConvBlock
from pygkd.nn.layers import (
    ChannelAlign,
    FastChebConv,
    GraphOperator,
    TemporalConv,
    TemporalGatedConv,
    scaled_laplacian,
)
from pygkd.nn.models import PRESETS, STGCN, resolve_blocks

__all__ = [
    "ChannelAlign",
    "FastChebConv",
    "GraphOperator",
    "NodeReadout",
    "OutputBlock",
    "PRESETS",
    "STConvBlock",
    "STGCN",
    "SpatialGraphConv",
    "TemporalConv",
    "TemporalGatedConv",
    "resolve_blocks",
    "scaled_laplacian",
]
classes = __all__
