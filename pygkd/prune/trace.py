"""Channel groups of any model, found by tracing one forward pass.

A model that does not name its channel groups (:class:`~pygkd.nn.channels.ChannelPrunable`) is
run once on example inputs with hooks on its layers of known kinds (:data:`LAYER_RULES`:
``Linear``, PyG's ``Linear``, ``GCNConv``, ``ChebConv``, ``GraphConv``, ``SAGEConv``, ``GRU``,
``LSTM``, ``GRUCell``, ``LSTMCell``). For every layer input the autograd graph is walked back
to the layer outputs it was computed from, through any operation that keeps channels on the
last dimension (activations, dropout, ``permute``/``reshape`` of the other dimensions, message
passing over nodes, sums): a layer's output channels and its readers' input channels form one
group, and layers whose outputs are added share one. A group is left out (its layers keep
their width) when

- it reaches the model's output (the forecast's width is fixed),
- a reader sees a different width (channels flattened with another dimension, concatenated),
- the path crosses a parameter of a layer of unknown kind, or
- the masked model and the exported one disagree on the example inputs (e.g. a LayerNorm over
  the channels): every group is checked this way before it is handed out.

Why not Torch-Pruning's dependency graph: version 1.6.1 knows neither PyG's ``Linear`` /
message-passing layers nor ``nn.GRU``, and with pruners added for them its index mapping fails
(``IndexError``) on the ``[B, T, N, H] -> [B * N, T, H]`` reshape that every spatio-temporal
model does between its graph convolution and its recurrent layer. Here channels are followed on
the last dimension only (PyG's layout), and the check on example inputs catches what the walk
cannot see.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import ChebConv, GCNConv, GraphConv, SAGEConv
from torch_geometric.nn.dense.linear import Linear as PyGLinear

from pygkd.errors import InputError
from pygkd.nn.channels import ChannelGroup, Slice, slice_state, zero_pruned

logger = logging.getLogger(__name__)

__all__ = ["LayerRule", "LAYER_RULES", "TracedGroups", "register_layer_rule",
           "trace_channel_groups", "export_traced"]

#: ``(parameter relative to the layer, dim, blocks)``: channel ``k`` at ``block * size + k``.
Place = tuple[str, int, tuple[int, ...]]


@dataclass(frozen=True)
class LayerRule:
    """Where a kind of layer keeps its input and output channels, and how it is resized.

    Args:
        sizes: ``(attribute of the input width, attribute of the output width)``; for nested
            layers (``GCNConv.lin``) also on the listed children.
        outputs: the parameters holding the output channels (those the layer lacks, e.g. a
            bias switched off, are skipped).
        inputs: the parameters holding the input channels.
        children: sub-layers whose width attributes change with the layer's.
    """

    sizes: tuple[str, str]
    outputs: Callable[[nn.Module], Sequence[Place]]
    inputs: Callable[[nn.Module], Sequence[Place]]
    children: Callable[[nn.Module], list[tuple[str, bool, bool]]] = lambda m: []
    #: the layer's own tensor inputs read by index (``GRUCell``: ``x`` and the state)
    state_input: int | None = None

    def in_size(self, module: nn.Module) -> int:
        return int(getattr(module, self.sizes[0]))

    def out_size(self, module: nn.Module) -> int:
        return int(getattr(module, self.sizes[1]))


def at(param: str, dim: int, blocks: tuple[int, ...] = (0,)) -> Place:
    """A place of channels: ``param``, along ``dim``, in the given blocks."""
    return (param, dim, blocks)


def _chebs(m: nn.Module) -> int:
    return len(m.get_submodule("lins"))  # type: ignore[arg-type]


def _rnn(gates: int, cell: bool) -> LayerRule:
    suffix = "" if cell else "_l0"
    blocks = tuple(range(gates))

    def outputs(m: nn.Module) -> list[Place]:
        return [at(f"weight_ih{suffix}", 0, blocks), at(f"weight_hh{suffix}", 0, blocks),
                at(f"weight_hh{suffix}", 1), at(f"bias_ih{suffix}", 0, blocks),
                at(f"bias_hh{suffix}", 0, blocks)]

    return LayerRule(("input_size", "hidden_size"), outputs,
                     lambda m: [at(f"weight_ih{suffix}", 1)], state_input=1 if cell else None)


def _pair(a: str, b: str) -> LayerRule:
    """Two linear maps of the same input summed (``GraphConv``, ``SAGEConv``): ``a`` has the
    bias."""
    return LayerRule(("in_channels", "out_channels"),
                     lambda m: [at(f"{a}.weight", 0), at(f"{a}.bias", 0), at(f"{b}.weight", 0)],
                     lambda m: [at(f"{a}.weight", 1), at(f"{b}.weight", 1)],
                     lambda m: [(a, True, True), (b, True, True)])


#: Layer kind -> rule; looked up along the class's MRO, so subclasses (``FastGCNConv``) match.
#: :func:`register_layer_rule` adds kinds.
LAYER_RULES: dict[type, LayerRule] = {
    nn.Linear: LayerRule(("in_features", "out_features"),
                         lambda m: [at("weight", 0), at("bias", 0)], lambda m: [at("weight", 1)]),
    PyGLinear: LayerRule(("in_channels", "out_channels"),
                         lambda m: [at("weight", 0), at("bias", 0)], lambda m: [at("weight", 1)]),
    GCNConv: LayerRule(("in_channels", "out_channels"),
                       lambda m: [at("lin.weight", 0), at("bias", 0)],
                       lambda m: [at("lin.weight", 1)], lambda m: [("lin", True, True)]),
    ChebConv: LayerRule(("in_channels", "out_channels"),
                        lambda m: [*(at(f"lins.{k}.weight", 0) for k in range(_chebs(m))),
                                   at("bias", 0)],
                        lambda m: [at(f"lins.{k}.weight", 1) for k in range(_chebs(m))],
                        lambda m: [(f"lins.{k}", True, True) for k in range(_chebs(m))]),
    GraphConv: _pair("lin_rel", "lin_root"),
    SAGEConv: _pair("lin_l", "lin_r"),
    nn.GRU: _rnn(3, cell=False),
    nn.LSTM: _rnn(4, cell=False),
    nn.GRUCell: _rnn(3, cell=True),
    nn.LSTMCell: _rnn(4, cell=True),
}


class TracedGroups(list[ChannelGroup]):
    """The channel groups found by :func:`trace_channel_groups`; :attr:`left_out` says, for
    each layer (or group) that keeps its width, why."""

    def __init__(self, groups: Iterable[ChannelGroup], left_out: dict[str, str]) -> None:
        super().__init__(groups)
        #: layer or group name -> the reason it is not pruned
        self.left_out = left_out


def register_layer_rule(kind: type, rule: LayerRule) -> LayerRule:
    """Teach the tracer a layer kind (e.g. a convolution of another library)."""
    LAYER_RULES[kind] = rule
    return rule


def rule_for(module: nn.Module) -> LayerRule | None:
    """The rule of ``module``'s kind, or ``None``. Multi-layer, bidirectional or projected
    recurrent layers have none (their layers are left at their width)."""
    if isinstance(module, nn.RNNBase) and (module.num_layers != 1 or module.bidirectional
                                           or module.proj_size):
        return None
    for kind in type(module).__mro__:
        if kind in LAYER_RULES:
            return LAYER_RULES[kind]
    return None


def _tensors(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def join(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def _walk(node: Any, producers: dict[Any, str], foreign: set[Any]) -> tuple[set[str], bool]:
    """The producer layers a tensor with grad_fn ``node`` was computed from (stopping at
    them), and whether the way crosses a parameter of an unknown layer."""
    found: set[str] = set()
    crossed = False
    seen: set[Any] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        if n in producers:
            found.add(producers[n])
            continue
        if n in foreign:
            crossed = True
            continue
        stack.extend(next_fn for next_fn, _ in n.next_functions)
    return found, crossed


def _layer_slices(prefix: str, module: nn.Module, places: Sequence[Place],
                  size: int) -> list[Slice]:
    own = {name for name, p in module.named_parameters() if p is not None}
    return [Slice(f"{prefix}.{param}", dim, block * size)
            for param, dim, blocks in places if param in own for block in blocks]


def trace_channel_groups(model: nn.Module, example_inputs: Sequence[Any],
                         check: bool = True, atol: float = 1e-5) -> TracedGroups:
    """The prunable channel groups of ``model``, found by running it on ``example_inputs``.

    Args:
        model (nn.Module): any model; its layers of the kinds in :data:`LAYER_RULES` can be cut.
        example_inputs (sequence): positional arguments of one forward call (e.g.
            ``(x, edge_index)``, ``x`` as ``[B, T, N, C]``).
        check (bool): keep only the groups whose masked and exported models agree on
            ``example_inputs`` (within ``atol``).

    Returns:
        TracedGroups: a list of :class:`~pygkd.nn.channels.ChannelGroup`, named after the
        layers that produce the channels (``conv``, ``gru``; joined by ``+`` when their outputs
        are added), in the order the layers run; ``left_out`` holds the reason for every layer
        that keeps its width.

    Raises:
        InputError: when no group can be pruned (nothing in the model is of a known kind, or
            every group is left out: the message says why for each).
    """
    layers: dict[str, tuple[nn.Module, LayerRule]] = {}
    inside: set[str] = set()
    for name, module in model.named_modules():
        if any(name.startswith(f"{p}.") for p in inside):
            continue
        rule = rule_for(module)
        if rule is not None and name:
            layers[name] = (module, rule)
            inside.add(name)
    if not layers:
        raise InputError(f"{type(model).__name__}: no layer of a kind pygkd can prune "
                         f"(known: {', '.join(k.__name__ for k in LAYER_RULES)}); add one with "
                         "register_layer_rule")
    owned = {f"{name}.{p}" for name in layers for p, _ in layers[name][0].named_parameters()}
    foreign_params = [p for n, p in model.named_parameters() if n not in owned]

    producers: dict[Any, str] = {}
    reads: list[tuple[str, Any, bool]] = []  # (layer, grad_fn of its input, is state input)
    order: list[str] = []
    handles = []

    def hook(name: str, rule: LayerRule) -> Callable:
        def record(module: nn.Module, args: tuple, output: Any) -> None:
            if name not in order:
                order.append(name)
            tensors = [a for a in args if isinstance(a, Tensor)]
            if tensors:
                reads.append((name, tensors[0].grad_fn, False))
            if rule.state_input is not None and len(args) > rule.state_input and \
                    isinstance(args[rule.state_input], Tensor):
                state = args[rule.state_input]
                reads.append((name, state.grad_fn, True))
            for t in _tensors(output):
                if t.grad_fn is not None:
                    producers[t.grad_fn] = name
        return record

    for name, (module, rule) in layers.items():
        handles.append(module.register_forward_hook(hook(name, rule)))
    try:
        with torch.enable_grad():
            output = model(*example_inputs)
    finally:
        for h in handles:
            h.remove()
    foreign = set()
    for p in foreign_params:  # their AccumulateGrad nodes, found from any output
        node = p.view_as(p).grad_fn if p.requires_grad else None
        if node is not None:
            foreign.add(node.next_functions[0][0])

    union = _Union()
    frozen: dict[str, str] = {}
    readers: dict[str, set[str]] = {name: set() for name in layers}
    for name, node, is_state in reads:
        module, rule = layers[name]
        sources, crossed = _walk(node, producers, foreign)
        width = rule.out_size(module) if is_state else rule.in_size(module)
        for src in sources:
            if src == name and is_state:
                continue
            src_width = layers[src][1].out_size(layers[src][0])
            if crossed:
                frozen.setdefault(src, f"its output reaches {name} through a parameter "
                                       "of a layer pygkd cannot cut")
            elif src_width != width:
                frozen.setdefault(src, f"{name} reads {width} channels from its "
                                       f"{src_width} (reshaped or concatenated)")
            else:
                readers[src].add(name)
        for a in sources:
            for b in sources:
                union.join(a, b)
    for out in _tensors(output):
        for src in _walk(out.grad_fn, producers, foreign)[0]:
            frozen.setdefault(src, "it makes the model's output")
    components: dict[str, list[str]] = {}
    for name in order:
        components.setdefault(union.find(name), []).append(name)

    groups: list[ChannelGroup] = []
    skipped: dict[str, str] = {}
    for members in components.values():
        why = {m: frozen[m] for m in members if m in frozen}
        if why:
            skipped.update(why)
            continue
        sizes = {layers[m][1].out_size(layers[m][0]) for m in members}
        if len(sizes) != 1:
            skipped["+".join(members)] = "outputs of different widths are added"
            continue
        size = sizes.pop()
        slices = []
        for m in members:
            slices += _layer_slices(m, layers[m][0], layers[m][1].outputs(layers[m][0]), size)
        group_readers = sorted({r for m in members for r in readers[m]} - set(members))
        for reader in group_readers:
            module, rule = layers[reader]
            slices += _layer_slices(reader, module, rule.inputs(module), size)
        groups.append(ChannelGroup("+".join(members), size, list(dict.fromkeys(slices)),
                                   activations=list(members), readers=group_readers))
    if check:
        kept = []
        for g in groups:
            problem = _check_group(model, g, example_inputs, atol)
            if problem:
                skipped[g.name] = problem
            else:
                kept.append(g)
        groups = kept
    for name, reason in skipped.items():
        logger.debug(f"not pruned: {name}: {reason}")
    if not groups:
        raise InputError(f"{type(model).__name__}: no channel group can be pruned ("
                         + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + ")")
    return TracedGroups(groups, skipped)


def _check_group(model: nn.Module, group: ChannelGroup, example_inputs: Sequence[Any],
                 atol: float) -> str:
    """Empty when cutting a third of ``group`` gives a model equal to the masked one."""
    keep = torch.ones(group.size, dtype=torch.bool)
    keep[:: 3] = False
    if group.size < 2:
        return "one channel only"
    masked = copy.deepcopy(model)
    zero_pruned(masked, [group], {group.name: keep})
    try:
        small = export_traced(model, [group], {group.name: keep})
        with torch.no_grad():
            a, b = masked(*example_inputs), small(*example_inputs)
    except (RuntimeError, ValueError) as err:
        return f"the cut model fails ({str(err).splitlines()[0]})"
    for x, y in zip(_tensors(a), _tensors(b), strict=False):
        if x.shape != y.shape or not torch.allclose(x, y, atol=atol, rtol=1e-4):
            return ("the cut model differs from the masked one (a normalisation over the "
                    "channels, or an operation that mixes them)")
    return ""


def _set_width(module: nn.Module, rule: LayerRule, n_in: int | None, n_out: int | None) -> None:
    if n_in is not None:
        setattr(module, rule.sizes[0], n_in)
    if n_out is not None:
        setattr(module, rule.sizes[1], n_out)
    for child, reads, writes in rule.children(module):
        sub = module.get_submodule(child)
        sub_rule = rule_for(sub)
        if sub_rule is not None:
            _set_width(sub, sub_rule, n_in if reads else None, n_out if writes else None)


def export_traced(model: nn.Module, groups: Iterable[ChannelGroup],
                  keep: dict[str, Tensor]) -> nn.Module:
    """A copy of ``model`` whose layers hold only the kept channels of ``groups``."""
    groups = list(groups)
    small = copy.deepcopy(model)
    state = slice_state({k: v.detach() for k, v in small.state_dict().items()}, groups, keep)
    touched = {s.param for g in groups for s in g.slices}
    for name in touched:
        path, _, attr = name.rpartition(".")
        owner = small.get_submodule(path)
        setattr(owner, attr, nn.Parameter(state[name].clone(),
                                          requires_grad=getattr(owner, attr).requires_grad))
    widths_in: dict[str, int] = {}
    widths_out: dict[str, int] = {}
    for g in groups:
        width = int(keep[g.name].sum())
        widths_out.update({name: width for name in g.activations})
        widths_in.update({name: width for name in g.readers})
    for name, module in small.named_modules():
        rule = rule_for(module)
        if rule is None or name not in widths_in and name not in widths_out:
            continue
        _set_width(module, rule, widths_in.get(name), widths_out.get(name))
        if isinstance(module, nn.RNNBase):
            module._init_flat_weights()
    return small
