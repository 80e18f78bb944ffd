"""A built-in synthetic traffic network: seeded, deterministic, realistic enough to need a graph.

The road network is a set of freeway corridors (directed chains of sensors, made with networkx)
joined at interchanges. Speeds follow each sensor's free-flow speed, slowed by

- **recurrent rush-hour congestion** at bottlenecks: onset, length and severity vary from day
  to day, so a sensor's own past does not tell when today's jam starts;
- **incidents** at random sensors and times;
- both **spread upstream** along the directed road graph as a shock wave (about 15 km/h),
  reaching a sensor ``d`` metres upstream ``d / wave_speed`` later and weaker with distance.

A jam is therefore visible downstream before it reaches a sensor, which is what a graph model
can exploit and a per-sensor model cannot. Sensor noise (AR(1)) and missing readings (isolated
NaNs and zero-valued outages, as PeMS reports them) are added on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from pygkd.data.preprocessing import gaussian_kernel_adjacency
from pygkd.data.traffic import TrafficData
from pygkd.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = ["make_road_graph", "make_synthetic_network", "random_sensor_graph"]

_WAVE_METRES_PER_MIN = 250.0  # ~15 km/h upstream shock wave
_REACH_METRES = 9000.0  # how far upstream a jam is felt


def make_road_graph(num_nodes: int, rng: np.random.Generator) -> nx.DiGraph:
    """Directed road graph: corridors of sensors in driving direction, joined at interchanges.

    Edge attribute ``length`` is in metres. Node attribute ``corridor`` names the corridor.
    """
    num_corridors = max(2, num_nodes // 12)
    sizes = np.full(num_corridors, num_nodes // num_corridors)
    sizes[: num_nodes % num_corridors] += 1
    graph = nx.DiGraph()
    corridors: list[list[int]] = []
    node = 0
    for c, size in enumerate(sizes):
        chain = list(range(node, node + int(size)))
        node += int(size)
        corridors.append(chain)
        for n in chain:
            graph.add_node(n, corridor=c)
        for a, b in zip(chain[:-1], chain[1:], strict=False):
            graph.add_edge(a, b, length=float(rng.uniform(600.0, 2200.0)))
    # Interchanges: each corridor feeds into the next one and is fed by it (ramps both ways).
    for c in range(num_corridors):
        here, after = corridors[c], corridors[(c + 1) % num_corridors]
        if len(here) < 2 or len(after) < 2 or (num_corridors == 2 and c == 1):
            continue
        for _ in range(2):
            u = int(rng.integers(len(here) // 4, len(here)))
            v = int(rng.integers(0, max(1, 3 * len(after) // 4)))
            graph.add_edge(here[u], after[v], length=float(rng.uniform(300.0, 900.0)))
            graph.add_edge(after[v], here[max(0, u - 1)],
                           length=float(rng.uniform(300.0, 900.0)))
    return graph


def _event(steps: int, start: float, duration: float, peak: float) -> np.ndarray:
    """A jam: raised-cosine onset and recovery, ``peak`` severity, times in steps."""
    t = np.arange(steps, dtype=np.float64)
    phase = np.clip((t - start) / max(duration, 1.0), 0.0, 1.0)
    return peak * np.sin(np.pi * phase) ** 2


def _shift(profile: np.ndarray, lag: int) -> np.ndarray:
    if lag <= 0:
        return profile
    out = np.zeros_like(profile)
    out[lag:] = profile[:-lag]
    return out


def _sources(
    graph: nx.DiGraph, num_days: int, steps_per_day: int, rng: np.random.Generator
) -> list[tuple[int, np.ndarray]]:
    """(node, congestion profile over all steps) for bottlenecks and incidents."""
    steps = num_days * steps_per_day
    per_min = steps_per_day / 1440.0
    nodes = list(graph.nodes)
    chains: dict = {}
    for n in nodes:
        chains.setdefault(graph.nodes[n]["corridor"], []).append(n)
    sources: list[tuple[int, np.ndarray]] = []
    for c in sorted(chains):
        chain = chains[c]
        for bottleneck in rng.choice(chain[len(chain) // 3 :], size=2, replace=False):
            rush = np.zeros(steps)
            am_weight, pm_weight = rng.uniform(0.4, 1.0, size=2)
            for day in range(num_days):
                base = day * steps_per_day
                for centre, weight in ((7.6 * 60, am_weight), (17.3 * 60, pm_weight)):
                    onset = centre - 60 + rng.normal(0.0, 25.0)
                    length = rng.normal(140.0, 30.0)
                    peak = weight * rng.uniform(0.35, 0.7)
                    rush += _event(steps, base + onset * per_min, length * per_min, peak)
            sources.append((int(bottleneck), rush))
    for day in range(num_days):
        for _ in range(rng.poisson(max(1.0, len(nodes) / 12.0))):
            when = day * steps_per_day + rng.uniform(5 * 60, 21 * 60) * per_min
            length = rng.uniform(25.0, 75.0) * per_min
            node = int(rng.choice(nodes))  # drawn before the event's size: keeps seeded data
            sources.append((node, _event(steps, when, length, rng.uniform(0.3, 0.7))))
    return sources


def _kernel_adjacency(graph: nx.DiGraph, sigma2: float, epsilon: float) -> np.ndarray:
    """Gaussian kernel (Eq. 16) of shortest road distances, searched only as far as a weight can
    stay above ``epsilon`` (so large networks cost ``O(N)`` searches, not all pairs)."""
    num_nodes = graph.number_of_nodes()
    if 0 < epsilon < 1:
        cutoff = 10000.0 * float(np.sqrt(-sigma2 * np.log(epsilon))) * (1 + 1e-9)
    else:
        cutoff = None
    undirected = graph.to_undirected()
    distances = np.full((num_nodes, num_nodes), 1e9, dtype=np.float32 if num_nodes > 2000
                        else np.float64)
    for i in range(num_nodes):
        for j, d in nx.single_source_dijkstra_path_length(undirected, i, cutoff=cutoff,
                                                          weight="length").items():
            distances[i, j] = d
    return gaussian_kernel_adjacency(distances, sigma2=sigma2, epsilon=epsilon)


def random_sensor_graph(num_nodes: int, neighbours: int = 10, seed: int = 0
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """A random geometric sensor graph for scale tests: points in the unit square, each joined
    to its ``neighbours`` nearest (both directions), Gaussian weights of distance.

    Returns ``(edge_index [2, E], edge_weight [E])`` without duplicate edges.

    Example:
        >>> ei, ew = random_sensor_graph(100, neighbours=4)
        >>> ei.shape[0], bool((ew > 0).all())
        (2, True)
    """
    import torch
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    points = rng.random((num_nodes, 2))
    dist, idx = cKDTree(points).query(points, k=neighbours + 1)
    src = np.repeat(np.arange(num_nodes), neighbours)
    dst = idx[:, 1:].reshape(-1)
    scale = float(np.mean(dist[:, 1:])) or 1.0
    pairs = np.unique(np.concatenate([np.stack([src, dst]), np.stack([dst, src])], axis=1),
                      axis=1)
    d = np.linalg.norm(points[pairs[0]] - points[pairs[1]], axis=1)
    weight = np.exp(-((d / scale) ** 2))
    return torch.from_numpy(pairs.astype(np.int64)), torch.from_numpy(weight.astype(np.float32))


def make_synthetic_network(
    num_nodes: int = 40,
    num_days: int = 8,
    steps_per_day: int = 288,
    seed: int = 0,
    missing_rate: float = 0.005,
    noise_mph: float = 1.5,
    sigma2: float = 0.1,
    epsilon: float = 0.5,
) -> TrafficData:
    """Generate the built-in synthetic network (deterministic for a given ``seed``).

    Args:
        num_nodes (int): sensors (default: 40).
        num_days (int): days of data; the default split is 6:1:1 days for 8 days.
        steps_per_day (int): samples per day (default: 288, five minutes).
        seed (int): the only source of randomness.
        missing_rate (float): share of readings dropped at random (plus a few outages).
        noise_mph (float): standard deviation of the AR(1) sensor noise.
        sigma2, epsilon (float): Gaussian kernel on road distances (as PeMSD7, Eq. 16).

    Returns:
        TrafficData: speeds in mph ``[num_days * steps_per_day, num_nodes]`` and the kernel
        adjacency of shortest road distances.

    Example:
        >>> data = make_synthetic_network(num_nodes=12, num_days=3, seed=1)
        >>> data.speeds.shape, data.num_days
        ((864, 12), 3)
    """
    if num_nodes < 4:
        raise InputError(f"num_nodes: expected at least 4 sensors (got {num_nodes})")
    if num_days < 3:
        raise InputError(f"num_days: expected at least 3 days (got {num_days})")
    if not 0 <= missing_rate < 0.5:
        raise InputError(f"missing_rate: expected a share in [0, 0.5) (got {missing_rate})")
    rng = np.random.default_rng(seed)
    graph = make_road_graph(num_nodes, rng)
    steps = num_days * steps_per_day

    congestion = np.zeros((steps, num_nodes))
    upstream_graph = graph.reverse(copy=False)
    minutes_per_step = 1440.0 / steps_per_day
    for node, profile in _sources(graph, num_days, steps_per_day, rng):
        reach = nx.single_source_dijkstra_path_length(
            upstream_graph, node, cutoff=_REACH_METRES, weight="length"
        )
        for other, dist in reach.items():
            lag = int(round(dist / _WAVE_METRES_PER_MIN / minutes_per_step))
            congestion[:, other] += np.exp(-dist / 4000.0) * _shift(profile, lag)
    congestion = np.clip(congestion, 0.0, 0.85)

    free_flow = rng.uniform(58.0, 70.0, size=num_nodes)
    noise = np.zeros((steps, num_nodes))
    shocks = rng.normal(0.0, noise_mph * np.sqrt(1 - 0.8**2), size=(steps, num_nodes))
    for t in range(1, steps):
        noise[t] = 0.8 * noise[t - 1] + shocks[t]
    speeds = np.clip(free_flow * (1.0 - congestion) + noise, 3.0, 80.0)

    drop = rng.random((steps, num_nodes)) < missing_rate
    speeds[drop] = np.nan
    for _ in range(max(1, num_nodes // 10)):  # outages reported as zeros
        sensor = int(rng.integers(num_nodes))
        start = int(rng.integers(steps - steps_per_day // 8))
        speeds[start : start + int(rng.integers(6, steps_per_day // 12 + 7)), sensor] = 0.0

    adjacency = _kernel_adjacency(graph, sigma2, epsilon)
    split = f"{num_days - 2}/1/1"
    return TrafficData(
        name="synthetic",
        speeds=speeds,
        adjacency=adjacency,
        steps_per_day=steps_per_day,
        minutes_per_step=int(round(minutes_per_step)),
        default_split=split,
        sensor_ids=[f"S{n:03d}" for n in range(num_nodes)],
        source="synthetic",
        graph_source="synthetic",
        extra={"seed": seed},
    )
