"""Layers of STGCN (temporal convolutions, the graph operator, the fast Chebyshev convolution)
and the fast GCN convolution of the recurrent families."""

from pygkd.nn.layers.gcn import FastGCNConv, gcn_operator
from pygkd.nn.layers.operator import GraphOperator, laplacian_lambda_max, scaled_laplacian
from pygkd.nn.layers.spatial import FastChebConv
from pygkd.nn.layers.temporal import ChannelAlign, TemporalConv, TemporalGatedConv

__all__ = [
    "ChannelAlign",
    "FastChebConv",
    "FastGCNConv",
    "GraphOperator",
    "TemporalConv",
    "TemporalGatedConv",
    "gcn_operator",
    "laplacian_lambda_max",
    "scaled_laplacian",
]
classes = __all__
