"""KD-aware pruning (Algorithm 1, Eq. 12-14): Taylor importance, channel and weight masks,
the pruning schedule, export of a smaller STGCN."""

from pygkd.prune.groups import ChannelGroup, Slice, stgcn_channel_groups
from pygkd.prune.importance import TaylorImportance
from pygkd.prune.masks import ChannelMasks, WeightMasks, prunable_parameters
from pygkd.prune.pruner import prune_model, prune_step, pruned_share

__all__ = [
    "ChannelGroup",
    "ChannelMasks",
    "Slice",
    "TaylorImportance",
    "WeightMasks",
    "prunable_parameters",
    "prune_model",
    "prune_step",
    "pruned_share",
    "stgcn_channel_groups",
]
classes = __all__
