"""The exact DP quantizer: optimal against brute force and against ckmeans-1d-dp, and its properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from ckmeans_1d_dp import ckmeans as reference_ckmeans
from hypothesis import given, settings
from hypothesis import strategies as st

from slimkit.quant import optimal_codebook


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
    return np.round(rng.normal(size=n) * 4) / 4  # duplicate-heavy: ~30 distinct values


@pytest.mark.parametrize("kind", ["normal", "heavy_tailed", "duplicates"])
@pytest.mark.parametrize(("n", "k"), [(50, 3), (500, 16), (2000, 7), (3000, 64), (1000, 255)])
def test_sse_equals_ckmeans_1d_dp(kind, n, k):
    values = data(kind, n, np.random.default_rng(n * k))
    distinct = len(np.unique(values))
    result = optimal_codebook(torch.from_numpy(values), k)
    if k >= distinct:
        assert result.sse == 0.0
        return
    expected = float(reference_ckmeans(values, (k, k)).tot_withinss)
    assert result.sse == pytest.approx(expected, rel=1e-9, abs=1e-12)


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
