"""pygkd: knowledge distillation and KD-aware pruning for spatio-temporal graph networks.

Implements and extends Izadi, Safayani and Mirzaei, "Knowledge Distillation on Spatial-Temporal
Graph Convolutional Network for Traffic Prediction" (arXiv 2401.11798).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
