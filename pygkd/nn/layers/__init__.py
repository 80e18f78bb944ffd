"""Layers of STGCN: temporal convolutions, the graph operator and the fast Chebyshev
convolution."""

from pygkd.nn.layers.operator import GraphOperator, laplacian_lambda_max, scaled_laplacian
from pygkd.nn.layers.spatial import FastChebConv
from pygkd.nn.layers.temporal import ChannelAlign, TemporalConv, TemporalGatedConv

__all__ = [
    "ChannelAlign",
    "FastChebConv",
    "GraphOperator",
    "TemporalConv",
    "TemporalGatedConv",
    "laplacian_lambda_max",
    "scaled_laplacian",
]
classes = __all__
