"""Layers of STGCN: temporal convolutions and the fast Chebyshev graph convolution."""

from pygkd.nn.layers.spatial import FastChebConv, laplacian_lambda_max, scaled_laplacian
from pygkd.nn.layers.temporal import ChannelAlign, TemporalConv, TemporalGatedConv

__all__ = [
    "ChannelAlign",
    "FastChebConv",
    "TemporalConv",
    "TemporalGatedConv",
    "laplacian_lambda_max",
    "scaled_laplacian",
]
classes = __all__
