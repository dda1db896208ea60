"""The exact DP quantizer: optimal against brute force and against ckmeans-1d-dp, and its properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from ckmeans_1d_dp import ckmeans as reference_ckmeans
from hypothesis import given, settings
from hypothesis import strategies as st

from slimkit.quant import dp, optimal_codebook
from slimkit.quant.dp_kernel import optimal_starts


def brute_force_sse(values: np.ndarray, k: int) -> float:
    """Best SSE over every split of the sorted values into k non-empty contiguous groups."""
    x = np.sort(values)
    best = np.inf
    for cuts in itertools.combinations(range(1, len(x)), k - 1):
        groups = np.split(x, cuts)
        best = min(best, sum(float(((group - group.mean()) ** 2).sum()) for group in groups))
    return best


@pytest.mark.parametrize("seed", range(40))
def test_agrees_with_brute_force_on_tiny_inputs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 10))
    values = np.round(rng.normal(size=n), int(rng.integers(0, 3)))  # rounding makes duplicates
    k = int(rng.integers(1, n + 1))
    result = optimal_codebook(torch.from_numpy(values), k)
    assert result.sse == pytest.approx(brute_force_sse(values, k), rel=1e-9, abs=1e-12)


def data(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        return rng.normal(size=n)
    if kind == "heavy_tailed":
        return rng.standard_t(df=1.5, size=n)
    if kind == "cauchy":
        return rng.standard_cauchy(size=n)
    if kind == "symmetric":  # mirrored halves: equal marginal gains, the Lagrangian's hard case
        half = rng.normal(size=n // 2)
        return np.concatenate([half, -half])
    if kind == "integers":  # few distinct values, many ties
        return rng.integers(0, 12, size=n).astype(np.float64)
    return np.round(rng.normal(size=n) * 4) / 4  # duplicate-heavy: ~30 distinct values


def reference_sse(values: np.ndarray, k: int) -> float:
    """ckmeans-1d-dp's optimal SSE. Its default method ("linear", SMAWK) can miss the optimum on mirrored
    data (n=3000, k=300 "symmetric" below: 0.04751 where 0.04550 is optimal); "loglinear" does not."""
    return float(reference_ckmeans(values, (k, k), method="loglinear").tot_withinss)


def sse_of_starts(values: np.ndarray, weights: np.ndarray, starts: np.ndarray) -> float:
    """Weighted SSE of the partition of the sorted ``values`` into runs beginning at ``starts``."""
    total = 0.0
    for start, end in zip(starts, [*starts[1:], len(values)], strict=True):
        x, w = values[start:end], weights[start:end]
        total += float((w * (x - (w * x).sum() / w.sum()) ** 2).sum()) if w.sum() > 0 else 0.0
    return total


KINDS = ["normal", "heavy_tailed", "cauchy", "symmetric", "integers", "duplicates"]
SIZES = [(50, 3), (500, 16), (2000, 7), (3000, 64), (1000, 255), (4000, 255), (4000, 256), (3000, 300), (1500, 700)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n", "k"), SIZES)
def test_sse_equals_ckmeans_1d_dp(kind, n, k):
    values = data(kind, n, np.random.default_rng(n * k))
    distinct = len(np.unique(values))
    result = optimal_codebook(torch.from_numpy(values), k)
    if k >= distinct:
        assert result.sse == 0.0
        return
    assert result.sse == pytest.approx(reference_sse(values, k), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("n", "k"),
    # the small size runs in make test-fast; the large ones take 10-60 s each
    [(500, 16), *(pytest.param(n, k, marks=pytest.mark.slow) for n, k in [(3000, 64), (4000, 255), (3000, 300)])],
)
def test_row_dp_fallback_and_torch_path_reach_the_same_sse(kind, n, k):
    """The Lagrangian path, the row DP it falls back to, and the torch (CUDA) D&C agree."""
    x, counts = np.unique(data(kind, n, np.random.default_rng(7 * n + k)), return_counts=True)
    w = counts.astype(np.float64)
    if k >= len(x):
        return
    expected = reference_sse(np.repeat(x, counts), k)
    torch_starts = dp._optimal_cluster_starts_torch(torch.from_numpy(x), torch.from_numpy(w), k).numpy()
    for starts in (optimal_starts(x, w, k), optimal_starts(x, w, k, method="dp"), torch_starts):
        assert len(starts) == k and starts[0] == 0 and np.all(np.diff(starts) > 0)
        assert sse_of_starts(x, w, starts) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_lagrangian_finds_k_when_it_can_and_falls_back_on_ties():
    # 0,1 | 10,11: one cluster per pair costs 1, splitting a pair saves 0.5, the other pair too: no
    # penalty makes 3 clusters strictly best, so the row DP answers
    x, w = np.array([0.0, 1.0, 10.0, 11.0]), np.ones(4)
    assert optimal_starts(x, w, 3, method="lagrangian").size == 0
    assert sse_of_starts(x, w, optimal_starts(x, w, 3)) == 0.5
    x = np.sort(np.random.default_rng(3).normal(size=2000))
    assert optimal_starts(x, np.ones_like(x), 40, method="lagrangian").size == 40


def test_knuth_bounds_hold_for_smallest_start_argmins():
    """opt[q-1][i] <= opt[q][i] <= opt[q][i+1] on the full DP table (brute force, ties to the smallest start)."""
    rng = np.random.default_rng(11)
    for trial in range(30):
        x = np.unique(np.round(rng.standard_t(df=2, size=int(rng.integers(4, 25))), int(rng.integers(0, 3))))
        w = rng.integers(0, 4, size=x.size).astype(np.float64) if trial % 2 else np.ones(x.size)
        m = x.size
        cost = np.zeros((m, m))  # cost[j, i]: values j..i
        for j in range(m):
            for i in range(j, m):
                mass = w[j : i + 1].sum()
                if mass > 0:
                    centre = (w * x)[j : i + 1].sum() / mass
                    cost[j, i] = (w[j : i + 1] * (x[j : i + 1] - centre) ** 2).sum()
        table, previous_opt = cost[0].copy(), np.zeros(m, dtype=int)
        for q in range(1, m):
            row, opt = np.full(m, np.inf), np.zeros(m, dtype=int)
            for i in range(q, m):
                candidates = table[q - 1 : i] + cost[q : i + 1, i]
                row[i] = candidates.min()
                opt[i] = q + int(np.flatnonzero(candidates <= row[i] + 1e-12 * (1 + abs(row[i])))[0])
            assert np.all(np.diff(opt[q:]) >= 0)
            assert np.all(previous_opt[q:] <= opt[q:]) or q == 1
            table, previous_opt = row, opt


def test_quantized_tensor_keeps_shape_dtype_independent_of_offset():
    torch.manual_seed(0)
    weights = torch.randn(8, 4, 3, 3) * 1e-3 + 1000.0  # a large offset: prefix sums must not lose digits
    result = optimal_codebook(weights.float(), 16)
    assert result.assignment.shape == weights.shape and result.codebook.numel() == 16
    assert torch.all(result.codebook[1:] > result.codebook[:-1])
    error = float(((weights.double() - result.dequantize()) ** 2).sum())
    assert error == pytest.approx(result.sse, rel=1e-6)
    centred = optimal_codebook(weights.float() - 1000.0, 16)
    assert result.sse == pytest.approx(centred.sse, rel=1e-4)


def test_weights_count_like_duplicates():
    values = torch.tensor([0.0, 1.0, 5.0, 6.0, 20.0])
    counts = torch.tensor([3.0, 1.0, 2.0, 2.0, 1.0])
    weighted = optimal_codebook(values, 2, weights=counts)
    expanded = optimal_codebook(torch.repeat_interleave(values, counts.long()), 2)
    assert weighted.sse == pytest.approx(expanded.sse) and torch.allclose(weighted.codebook, expanded.codebook)


@pytest.mark.parametrize("k", [2, 5, 16, 40])
def test_random_integer_weights_match_repeated_values(k):
    rng = np.random.default_rng(k)
    values = torch.from_numpy(rng.normal(size=300))
    counts = torch.from_numpy(rng.integers(1, 5, size=300)).double()
    weighted = optimal_codebook(values, k, weights=counts)
    expanded = optimal_codebook(torch.repeat_interleave(values, counts.long()), k)
    assert weighted.sse == pytest.approx(expanded.sse, rel=1e-9)
    assert torch.allclose(weighted.codebook, expanded.codebook)


def test_zero_weights_cost_nothing_and_still_get_a_cluster():
    values = torch.tensor([0.0, 0.1, 0.2, 5.0, 5.1, 9.0, 30.0, 31.0])
    weights = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 2.0, 0.0, 0.0])
    result = optimal_codebook(values, 3, weights=weights)
    assert result.assignment.shape == values.shape and result.codebook.numel() == 3
    assert result.sse == pytest.approx(0.005, rel=1e-6)  # 0, 0.1 | 0.2 and the free zero weights | 9
    assert optimal_codebook(values, 3, weights=torch.zeros(8)).sse == 0.0
    assert optimal_codebook(values, 6, weights=weights).sse == 0.0


def test_float32_input_and_exact_ties_are_deterministic():
    values = torch.tensor([-2.0, -1.0, 1.0, 2.0] * 25, dtype=torch.float32)  # symmetric: 3 clusters tie
    first = optimal_codebook(values, 3)
    assert first.sse == pytest.approx(12.5)  # -2 | -1 | 1, 2 and its mirror image tie
    for _ in range(3):
        again = optimal_codebook(values, 3)
        assert torch.equal(again.assignment, first.assignment) and torch.equal(again.codebook, first.codebook)
    assert first.codebook.dtype == torch.float64


def test_optimal_starts_validates_its_arguments():
    with pytest.raises(ValueError, match="need 1 <= k"):
        optimal_starts(np.arange(3.0), np.ones(3), 4)
    with pytest.raises(ValueError, match="need 1 <= k"):
        optimal_starts(np.arange(3.0), np.ones(2), 2)
    assert optimal_starts(np.arange(3.0), np.ones(3), 1).tolist() == [0]
    assert optimal_starts(np.arange(3.0), np.ones(3), 3).tolist() == [0, 1, 2]


def test_edge_cases():
    empty = optimal_codebook(torch.empty(0), 4)
    assert empty.codebook.numel() == 0 and empty.sse == 0.0
    constant = optimal_codebook(torch.full((10,), 2.5), 4)
    assert constant.codebook.tolist() == [2.5] and constant.sse == 0.0
    few = optimal_codebook(torch.tensor([3.0, 1.0, 3.0, 2.0]), 8)
    assert few.codebook.tolist() == [1.0, 2.0, 3.0] and few.sse == 0.0
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="NaN or infinite"):
            optimal_codebook(torch.tensor([1.0, bad]), 2)
    for k in (0, 65537):
        with pytest.raises(ValueError, match="k must be in 1..65536"):
            optimal_codebook(torch.randn(10), k)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=1, max_size=60),
    k=st.integers(1, 8),
)
def test_properties_contiguous_clusters_and_sse_non_increasing_in_k(values, k):
    tensor = torch.tensor(values, dtype=torch.float64)
    result = optimal_codebook(tensor, k)
    order = torch.argsort(tensor, stable=True)
    assert torch.all(torch.diff(result.assignment[order]) >= 0)  # clusters are intervals of sorted values
    assert result.codebook.numel() <= k
    more = optimal_codebook(tensor, k + 1)
    assert more.sse <= result.sse * (1 + 1e-9) + 1e-9


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(-1e3, 1e3, allow_nan=False, width=32), st.integers(-5, 5).map(float)),
        min_size=1,
        max_size=80,
    ),
    weights=st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=80, max_size=80),
    k=st.integers(1, 20),
)
def test_properties_valid_assignment_zero_sse_when_k_covers_and_numba_equals_torch(values, weights, k):
    tensor = torch.tensor(values, dtype=torch.float64)
    mass = torch.tensor(weights[: len(values)], dtype=torch.float64)
    result = optimal_codebook(tensor, k, weights=mass)
    distinct = torch.unique(tensor)
    assert result.codebook.numel() == min(k, distinct.numel())
    assert result.assignment.dtype == torch.long and result.assignment.shape == tensor.shape
    assert result.assignment.min() >= 0 and result.assignment.max() < result.codebook.numel()
    order = torch.argsort(tensor, stable=True)
    assert torch.all(torch.diff(result.assignment[order]) >= 0)
    if k >= distinct.numel():
        assert result.sse == 0.0
    error = float((mass * (tensor - result.dequantize()) ** 2).sum())
    assert error == pytest.approx(result.sse, rel=1e-9, abs=1e-9)
    distinct_mass = torch.zeros_like(distinct).scatter_add_(0, torch.searchsorted(distinct, tensor), mass)
    torch_starts = dp._optimal_cluster_starts_torch(distinct, distinct_mass, k)
    _, torch_sse, _ = dp._centroids(distinct, distinct_mass, torch_starts)
    assert result.sse == pytest.approx(torch_sse, rel=1e-9, abs=1e-9)
