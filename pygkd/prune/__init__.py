"""KD-aware pruning (Algorithm 1, Eq. 12-14) as building blocks: :class:`KDPruner` (one
``step()`` per minibatch of any loop, ``export()`` of a smaller model), Taylor importance,
channel and weight masks, channel groups named by the zoo's models or traced from any model."""

from pygkd.nn.channels import ChannelGroup, ChannelPrunable, Slice
from pygkd.prune.group_masks import GroupMasks
from pygkd.prune.importance import TaylorImportance
from pygkd.prune.masks import ChannelKeep, ChannelMasks, WeightMasks, prunable_parameters
from pygkd.prune.pruner import KDPruner, make_masks, prune_step, pruned_share
from pygkd.prune.trace import (
    LAYER_RULES,
    LayerRule,
    TracedGroups,
    export_traced,
    register_layer_rule,
    trace_channel_groups,
)

__all__ = [
    "KDPruner",
    "ChannelGroup",
    "ChannelKeep",
    "ChannelPrunable",
    "ChannelMasks",
    "GroupMasks",
    "LAYER_RULES",
    "LayerRule",
    "Slice",
    "TaylorImportance",
    "TracedGroups",
    "WeightMasks",
    "export_traced",
    "make_masks",
    "prunable_parameters",
    "prune_step",
    "pruned_share",
    "register_layer_rule",
    "trace_channel_groups",
]
classes = __all__
