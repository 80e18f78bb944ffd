"""Sampled L_SCD (one random node subset per batch, shared by teacher and student)."""

import pytest
import torch

from pygkd.data.synthetic import make_synthetic_network
from pygkd.data.windows import ForecastDataset
from pygkd.distill import FeatureCapture
from pygkd.distill import functional as Fd
from pygkd.distill.teacher import scd_sample_size
from pygkd.nn import PRESETS, STGCN


def test_sampled_loss_is_the_exact_loss_on_the_subset_and_exact_when_m_ge_n():
    torch.manual_seed(0)
    f_s, f_t = torch.randn(2, 3, 10, 4), torch.randn(2, 3, 10, 6)
    nodes = torch.tensor([1, 4, 7])
    sub = Fd.spatial_correlation(f_s[:, :, nodes], f_t[:, :, nodes])
    assert float(Fd.spatial_correlation(f_s, f_t, nodes=nodes)) == pytest.approx(float(sub))
    d_t = Fd.pairwise_l1(f_t)  # cached teacher distances give the same value
    assert float(Fd.spatial_correlation(f_s, teacher_distances=d_t, nodes=nodes)) == \
        pytest.approx(float(sub), rel=1e-6)
    assert Fd.sample_nodes(10, 10) is None and Fd.sample_nodes(10, None) is None
    # by hand on 3 nodes, one channel: SCD_s = |x_i - x_j|, SCD_t = 0 -> mean of squares
    x = torch.tensor([0.0, 1.0, 3.0, 10.0]).view(1, 1, 4, 1)
    value = Fd.spatial_correlation(x, torch.zeros(1, 1, 4, 1), nodes=torch.tensor([0, 1, 2]))
    assert float(value) == pytest.approx((1 + 9 + 4) / 3)


def test_default_sample_size_rule():
    assert scd_sample_size(228, None) is None  # cost not measured
    assert scd_sample_size(1000, None) is None
    assert scd_sample_size(8600, None) == 256
    assert scd_sample_size(8600, 0) is None
    assert scd_sample_size(228, 64) == 64 and scd_sample_size(228, 500) is None
    # measured: exact while it costs at most one W/O KD step, else N * sqrt(1 / ratio) nodes
    # rounded down to a power of two
    assert scd_sample_size(675, None, cost_ratio=1.0) is None
    assert scd_sample_size(675, None, cost_ratio=4.0) == 256  # 337 -> 256
    assert scd_sample_size(675, None, cost_ratio=100.0) == 64  # 67 -> 64
    assert scd_sample_size(207, None, cost_ratio=5.9) == 64  # 85 -> 64
    assert scd_sample_size(207, None, cost_ratio=6.8) == 64  # 79 -> 64
    assert scd_sample_size(100, None, cost_ratio=1e6) == 32  # never below MIN_SCD_SAMPLE
    assert scd_sample_size(675, 0, cost_ratio=100.0) is None  # --scd-nodes 0: always exact
    assert scd_sample_size(675, 50, cost_ratio=0.1) == 50  # --scd-nodes M: always M


def test_the_default_samples_where_exact_scd_costs_more_than_a_step_and_is_exact_elsewhere(
        caplog):
    """A 2-channel student on 600 nodes: the exact L_SCD costs several W/O KD steps, so the
    default samples (and says so); on 12 nodes it is exact. The decision is kept by the
    objective's state (a resumed run reuses it)."""
    from pygkd.distill.objective import DistillObjective
    from pygkd.distill.teacher import scd_cost_ratio
    from pygkd.train.config import DistillConfig

    caplog.set_level("INFO", logger="pygkd")
    decided = {}
    for nodes in (12, 600):
        data = make_synthetic_network(num_nodes=nodes, num_days=3, steps_per_day=48, seed=3)
        ds = ForecastDataset.from_traffic(data, split="1/1/1")
        torch.manual_seed(0)
        teacher = STGCN(nodes, [[1, 8, 16], [16, 8, 32]])
        student = STGCN(nodes, PRESETS["student"])
        objective = DistillObjective(teacher, DistillConfig(loss="scd"), ds.edge_index,
                                     ds.edge_weight)
        x, y = ds.batch("train", torch.arange(16))
        objective(student, x, y)
        term = objective.terms[0]
        decided[nodes] = term.scd_sample
        with FeatureCapture(student, student.spatial_layer_names) as cs, \
                FeatureCapture(teacher, teacher.spatial_layer_names) as ct:
            student(x, ds.edge_index, ds.edge_weight), teacher(x, ds.edge_index, ds.edge_weight)
        ratio = scd_cost_ratio(student, x, y, ds.edge_index, ds.edge_weight,
                               list(zip(cs.ordered(), ct.ordered(), strict=True)), False)
        print(nodes, "nodes: exact L_SCD /  W/O KD step", round(ratio, 2), term.scd_sample)
        assert objective.state_dict()["terms"][0]["scd_sample"] == term.scd_sample
    assert decided[12] is None
    assert isinstance(decided[600], int) and 32 <= decided[600] < 600
    assert any("L_SCD: exact on 600 nodes would cost" in m for m in caplog.messages)
    fresh = DistillObjective(STGCN(600, [[1, 8, 16], [16, 8, 32]]), DistillConfig(loss="scd"),
                             ds.edge_index, ds.edge_weight)
    fresh.load_state_dict(objective.state_dict())
    assert fresh.terms[0].scd_sample == decided[600]


def test_sampled_gradients_point_where_the_exact_ones_do():
    """N = 228, M = 64: the student's parameter gradient of the sampled L_SCD has a median
    cosine of at least 0.95 with the exact one."""
    data = make_synthetic_network(num_nodes=228, num_days=3, steps_per_day=48, seed=3)
    ds = ForecastDataset.from_traffic(data, split="1/1/1")
    torch.manual_seed(0)
    teacher = STGCN(228, [[1, 8, 16], [16, 8, 32]]).eval()
    student = STGCN(228, PRESETS["student"])
    x, _ = ds.batch("train", torch.arange(0, 28, 4))
    ei, ew = ds.edge_index, ds.edge_weight
    with torch.no_grad(), FeatureCapture(teacher, teacher.spatial_layer_names) as ct:
        teacher(x, ei, ew)

    def grad(nodes):
        student.zero_grad()
        with FeatureCapture(student, student.spatial_layer_names) as cs:
            student(x, ei, ew)
        loss = sum(Fd.spatial_correlation(a, b, nodes=nodes)
                   for a, b in zip(cs.ordered(), ct.ordered(), strict=False))
        loss.backward()
        return torch.cat([p.grad.flatten() for p in student.parameters() if p.grad is not None])

    exact = grad(None)
    generator = torch.Generator().manual_seed(1)
    cosines = torch.stack([torch.nn.functional.cosine_similarity(
        grad(Fd.sample_nodes(228, 64, generator)), exact, dim=0) for _ in range(11)])
    print("median cosine", float(cosines.median()))
    assert float(cosines.median()) >= 0.95
