"""pygkd: knowledge distillation and KD-aware pruning for spatio-temporal graph networks.

Implements and extends Izadi, Safayani and Mirzaei, "Knowledge Distillation on Spatial-Temporal
Graph Convolutional Network for Traffic Prediction" (arXiv 2401.11798).
"""

from pygkd.compat import install_pyg_temporal_hook

__version__ = "0.1.0"

__all__ = ["__version__"]

# ``import torch_geometric_temporal`` works after ``import pygkd`` (see pygkd.compat)
install_pyg_temporal_hook()
