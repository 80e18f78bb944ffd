r"""Algorithm 1 (jointly KD-pruning) as a building block: :class:`KDPruner`.

Your loop computes a loss and calls ``backward()``; :meth:`KDPruner.step` then adds the
first-order Taylor scores of the gradients (Eq. 13; per channel, Eq. 14), and every ``every``
calls removes the lowest ``step_share`` of what remains in every hidden layer, until ``target``
of the parameters are gone. Which loss you back-propagate decides what the scores mean:
``L_STCD`` against a frozen teacher (:class:`~pygkd.distill.Distiller`) is the paper's KDIS,
the task loss alone the "W/O KD" Taylor baseline of Table 8. :meth:`KDPruner.export` returns the
physically smaller model, equal to the masked one.

The pruner is also a :class:`~pygkd.train.Trainer` callback (``after_backward``,
``stop_training``, ``state_dict``): ``pygkd prune`` runs the pruning phase inside the trainer's
loop, which never imports this package.

Example (a plain PyTorch loop; ``distiller`` as in :class:`~pygkd.distill.Distiller`)::

    pruner = KDPruner(student, target=0.9, example_inputs=(x, edge_index))
    while not pruner.done:
        for x, y in loader:
            loss, terms = distiller(x, edge_index, None, y)
            optimizer.zero_grad(); loss.backward()
            pruner.step()          # reads the gradients: before optimizer.step()
            optimizer.step()
            if pruner.done:
                break
    small = pruner.export()        # fewer channels, same function
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from pygkd.nn.channels import ChannelPrunable
from pygkd.nn.models.stgcn import STGCN
from pygkd.prune.group_masks import GroupMasks
from pygkd.prune.importance import TaylorImportance
from pygkd.prune.masks import ChannelMasks, WeightMasks
from pygkd.prune.trace import trace_channel_groups
from pygkd.train.config import PruneConfig

__all__ = ["KDPruner", "make_masks", "prune_step", "pruned_share"]

Masks = ChannelMasks | GroupMasks | WeightMasks


def pruned_share(masks: Masks, base_parameters: int) -> float:
    """Share of the base model's parameters that pruning removed (structured: from the size of
    the exported model; unstructured: from the nonzero weights)."""
    if isinstance(masks, ChannelMasks):
        remaining = sum(p.numel() for p in masks.export().parameters())
    elif isinstance(masks, GroupMasks):
        remaining = masks.remaining_parameters()
    else:
        remaining = masks.nonzero_parameters()
    return 1.0 - remaining / base_parameters


def prune_step(masks: Masks, scores: dict[str, Tensor], step_share: float, target: float,
               base_parameters: int, exact_target: bool = False, iterations: int = 20) -> float:
    """One pruning step of Algorithm 1: the lowest ``step_share`` of what remains in every
    hidden layer. If that passes ``target`` and ``exact_target`` is set, the step's share is
    shrunk by bisection to the smallest that still reaches the target (the pruned share grows
    with the step's share: lowest-k sets are nested). Returns the share of
    ``base_parameters`` pruned after the step."""
    before = masks.state() if exact_target else None
    masks.prune(scores, step_share)
    share = pruned_share(masks, base_parameters)
    if before is None or share <= target:
        return share
    low, high = 0.0, step_share
    for _ in range(iterations):
        middle = (low + high) / 2
        masks.restore(before)
        masks.prune(scores, middle)
        if pruned_share(masks, base_parameters) >= target:
            high = middle
        else:
            low = middle
    masks.restore(before)
    masks.prune(scores, high)
    return pruned_share(masks, base_parameters)


def make_masks(model: nn.Module, mode: str = "structured",
               example_inputs: Sequence[Any] | None = None) -> Masks:
    """The masks Algorithm 1 prunes ``model`` with: per weight (``unstructured``), or per
    channel: an STGCN's groups (LayerNorm-aware), the groups a model names
    (:class:`~pygkd.nn.channels.ChannelPrunable`), or the groups traced on
    ``example_inputs`` (:func:`~pygkd.prune.trace_channel_groups`)."""
    if mode == "unstructured":
        return WeightMasks(model)
    if mode != "structured":
        raise ValueError(f"Expected mode 'structured' or 'unstructured' (got {mode!r})")
    if isinstance(model, STGCN):
        return ChannelMasks(model)
    if isinstance(model, ChannelPrunable):
        return GroupMasks(model, model.channel_groups(), model.resized)
    if example_inputs is None:
        raise ValueError(f"{type(model).__name__} does not name its channel groups: give "
                         "example_inputs (one forward call's arguments) to trace them")
    return GroupMasks(model, trace_channel_groups(model, example_inputs))


class KDPruner:
    r"""Algorithm 1's pruning phase, one :meth:`step` per minibatch of your loop.

    Args:
        model (nn.Module): the model to prune, masked in place (a zoo forecaster, or any model
            given ``example_inputs``).
        target (float): share of the parameters to remove, in ``(0, 1)`` (paper: 0.97).
        example_inputs (sequence, optional): one forward call's arguments (e.g.
            ``(x, edge_index)``, ``x`` as ``[B, T, N, C]``), to trace the channel groups of a
            model that does not name them.
        step_share (float): share of what remains in each hidden layer removed per pruning
            (Algorithm 1, line 17).
        every (int): minibatches whose scores are averaged before each pruning (the paper's
            pruning minibatch; Algorithm 1, line 15).
        mode (str): ``structured`` (channels; :meth:`export` gives a smaller model) or
            ``unstructured`` (weights set to zero).
        exact_target (bool): shrink the last pruning to the smallest share reaching ``target``.

    Attributes:
        share (float): share of the parameters pruned so far.
        history (list[dict]): one row per pruning: ``step``, ``pruned`` and, structured,
            ``sizes`` (channels left per group).
    """

    def __init__(self, model: nn.Module, target: float, *,
                 example_inputs: Sequence[Any] | None = None, step_share: float = 0.1,
                 every: int = 10, mode: Literal["structured", "unstructured"] = "structured",
                 exact_target: bool = False) -> None:
        if not 0.0 < target < 1.0:
            raise ValueError(f"Expected target in (0, 1) (got {target})")
        if not 0.0 < step_share <= 1.0:
            raise ValueError(f"Expected step_share in (0, 1] (got {step_share})")
        if every < 1:
            raise ValueError(f"Expected every >= 1 (got {every})")
        self.model, self.target, self.step_share = model, target, step_share
        self.every, self.exact_target = every, exact_target
        self.masks: Masks = make_masks(model, mode, example_inputs)
        names = self.masks.names if isinstance(self.masks, WeightMasks) else None
        self.scorer = TaylorImportance(model, names)
        self.base_parameters = sum(p.numel() for p in model.parameters())
        self.steps, self.share = 0, 0.0
        self.history: list[dict[str, Any]] = []
        self._handle: RemovableHandle | None = None
        self.attach()

    @classmethod
    def from_config(cls, model: nn.Module, config: PruneConfig,
                    example_inputs: Sequence[Any] | None = None) -> KDPruner:
        """A pruner with the settings of a :class:`~pygkd.train.config.PruneConfig`."""
        return cls(model, config.target, example_inputs=example_inputs,
                   step_share=config.step_share, every=config.pruning_minibatch,
                   mode=config.mode, exact_target=config.exact_target)

    # ------------------------------------------------------------------ masked model
    def attach(self) -> KDPruner:
        """Run the masked model (done on construction)."""
        self.detach()
        if isinstance(self.masks, WeightMasks):
            weights = self.masks
            self._handle = self.model.register_forward_pre_hook(lambda m, a: weights.apply())
        else:
            self.masks.attach()
        return self

    def detach(self) -> None:
        """Remove the pruner's hooks: the model runs unmasked (pruned weights keep whatever
        the optimiser gave them after the last masked pass)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        if not isinstance(self.masks, WeightMasks):
            self.masks.detach()

    # ------------------------------------------------------------------ the algorithm
    @property
    def done(self) -> bool:
        """The target is reached."""
        return self.share >= self.target

    def step(self) -> bool:
        """Add the current gradients' scores; every ``every`` calls, prune. Call after
        ``backward()`` and before ``optimizer.step()``. Returns whether it pruned."""
        self.scorer.accumulate()
        self.steps += 1
        if self.done or self.steps % self.every:
            return False
        scores = self.scorer.average()
        if not isinstance(self.masks, WeightMasks):
            scores = TaylorImportance.group_scores(scores, self.masks.groups)
        self.share = prune_step(self.masks, scores, self.step_share, self.target,
                                self.base_parameters, self.exact_target)
        self.scorer.reset()
        row: dict[str, Any] = {"step": self.steps, "pruned": self.share}
        if not isinstance(self.masks, WeightMasks):
            row["sizes"] = self.masks.sizes()
        self.history.append(row)
        return True

    def export(self) -> nn.Module:
        """The pruned model: physically smaller (structured; on the CPU), or a copy with the
        pruned weights at zero (unstructured)."""
        if isinstance(self.masks, WeightMasks):
            import copy

            self.masks.apply()
            return copy.deepcopy(self.model).cpu()
        return self.masks.export()

    # ------------------------------------------------------------------ trainer callback
    def after_backward(self) -> None:
        """:class:`~pygkd.train.Trainer` callback: :meth:`step`."""
        self.step()

    @property
    def stop_training(self) -> bool:
        """:class:`~pygkd.train.Trainer` callback: stop once the target is reached."""
        return self.done

    def state_dict(self) -> dict[str, Any]:
        """Masks, accumulated scores and progress (for resuming an interrupted phase)."""
        masks = self.masks.masks if isinstance(self.masks, WeightMasks) else self.masks.keep
        return {"masks": {k: v.cpu() for k, v in masks.items()},
                "scores": {k: v.cpu() for k, v in self.scorer.scores.items()},
                "count": self.scorer.count, "steps": self.steps, "share": self.share,
                "history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        masks = self.masks.masks if isinstance(self.masks, WeightMasks) else self.masks.keep
        for key, value in state["masks"].items():
            masks[key].copy_(value)
        for key, value in state["scores"].items():
            self.scorer.scores[key].copy_(value)
        self.scorer.count, self.steps = int(state["count"]), int(state["steps"])
        self.share, self.history = float(state["share"]), list(state["history"])
        self.attach()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(target={self.target}, step_share={self.step_share}, "
                f"every={self.every}, pruned={self.share:.1%})")
