"""Models: STGCN (teacher, student and pruning base are configurations of one class)."""

from pygkd.nn.models.stgcn import PRESETS, STGCN, resolve_blocks

__all__ = ["STGCN", "PRESETS", "resolve_blocks"]
classes = ["STGCN"]
