"""The optimal (exact) 1-D k-means of a tensor by dynamic programming, as DP-Net uses it.

Sort the distinct values x_1 < ... < x_m (duplicates become weights), then
    D[q][i] = min_{j <= i} D[q-1][j-1] + cost(j, i),   cost(j, i) = S2 - S1^2 / S0 over x_j..x_i,
with S0, S1, S2 prefix sums of w, w*x, w*x^2 in float64, the values shifted by their median so the
subtraction in the cost does not lose the digits (docs/methods/dp_quant.md; Wang & Song 2011,
Gronlund et al. 2017). Two exact solvers give the cluster boundaries:

- CPU tensors: the compiled kernels of :mod:`slimkit.quant.dp_kernel` (numba): a Lagrangian
  relaxation solved in O(m) per penalty, a handful of penalties, O(m) memory; when ties in the
  marginal SSE leave no penalty with exactly k clusters, the row DP above restricted to the cells
  that can lie on an optimal path, with bit-packed back-pointers (see that module's docstring).
- CUDA tensors: the row DP in torch. The optimal split j*(i) of each row is monotone in i (the cost
  is Monge), so a row is solved by divide and conquer: the middle i first, then each half with its
  j range cut at the middle's split. Every subproblem of one recursion level runs at once as flat
  tensor operations, so the whole thing is O(k m log m) work in about k log2(m) vectorised steps;
  it needs O(m) floats plus one int32 back-pointer per (row, value), 4 k m bytes.

Ties in cost are broken towards the smallest start, so results are deterministic; equal values are
one value, so they always share a cluster. Both solvers reach the same (optimal) SSE; where several
partitions tie they may return different ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MAX_CLUSTERS = 65536


@dataclass(frozen=True)
class Quantization:
    """``codebook`` (sorted, float64), ``assignment`` (codebook index per input value, input's shape)
    and the sum of squared errors ``sse`` (weighted when weights were given)."""

    codebook: torch.Tensor
    assignment: torch.Tensor
    sse: float

    def dequantize(self) -> torch.Tensor:
        """The quantized tensor: every value replaced by its cluster's centroid."""
        return self.codebook[self.assignment]


def optimal_codebook(values: torch.Tensor, k: int, weights: torch.Tensor | None = None) -> Quantization:
    """The k-value codebook minimising the (weighted) SSE of ``values``, and each value's cluster.

    ``weights`` (same shape, >= 0) weigh each value's squared error, e.g. importance or counts.
    Fewer than k distinct values give a codebook of those values and zero SSE.
    """
    if not 1 <= k <= MAX_CLUSTERS:
        raise ValueError(f"k must be in 1..{MAX_CLUSTERS}, got {k}")
    flat = values.detach().reshape(-1).to(torch.float64)
    device = flat.device
    if flat.numel() == 0:
        return Quantization(flat.new_empty(0), torch.empty(values.shape, dtype=torch.long, device=device), 0.0)
    if not torch.isfinite(flat).all():
        raise ValueError("cannot quantize a tensor holding NaN or infinite values")
    mass = torch.ones_like(flat) if weights is None else weights.detach().reshape(-1).to(flat)
    if mass.shape != flat.shape or (mass < 0).any():
        raise ValueError("weights must have the values' shape and be >= 0")
    distinct, inverse = torch.unique(flat, sorted=True, return_inverse=True)
    distinct_mass = torch.zeros_like(distinct).scatter_add_(0, inverse, mass)
    bounds = _optimal_cluster_starts(distinct, distinct_mass, k)
    codebook, sse, cluster_of_distinct = _centroids(distinct, distinct_mass, bounds)
    return Quantization(codebook, cluster_of_distinct[inverse].reshape(values.shape), sse)


class _PrefixSums:
    """S0, S1, S2 of (w, w*x, w*x^2) with x shifted by the median; cost of any cluster in O(1)."""

    def __init__(self, x: torch.Tensor, w: torch.Tensor) -> None:
        shifted = x - x.median()
        zero = x.new_zeros(1)
        self.s0 = torch.cat([zero, torch.cumsum(w, 0)])
        self.s1 = torch.cat([zero, torch.cumsum(w * shifted, 0)])
        self.s2 = torch.cat([zero, torch.cumsum(w * shifted * shifted, 0)])

    def cost(self, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        """SSE of the cluster of distinct values start..end (inclusive)."""
        s0 = self.s0[end + 1] - self.s0[start]
        s1 = self.s1[end + 1] - self.s1[start]
        s2 = self.s2[end + 1] - self.s2[start]
        sse = s2 - torch.where(s0 > 0, s1 * s1 / s0.clamp_min(torch.finfo(s0.dtype).tiny), torch.zeros_like(s1))
        return sse.clamp_min(0.0)  # rounding can leave -1e-18 for an exact cluster


def _optimal_cluster_starts(x: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
    """Start index (into the distinct values) of each of the min(k, m) optimal clusters."""
    m = x.numel()
    clusters = min(k, m)
    if clusters == m:
        return torch.arange(m, device=x.device)
    if x.device.type == "cpu":
        from slimkit.quant.dp_kernel import optimal_starts  # numba loads on first use only

        return torch.from_numpy(optimal_starts(x.numpy(), w.numpy(), clusters))
    return _optimal_cluster_starts_torch(x, w, clusters)


def _optimal_cluster_starts_torch(x: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
    """The torch row DP (the CUDA path; runs on any device): starts of the min(k, m) optimal clusters."""
    m = x.numel()
    clusters = min(k, m)
    if clusters == m:
        return torch.arange(m, device=x.device)
    sums = _PrefixSums(x, w)
    ends = torch.arange(m, device=x.device)
    previous = sums.cost(torch.zeros_like(ends), ends)  # D[1][i]: one cluster over 0..i
    back = torch.zeros((clusters, m), dtype=torch.int32, device=x.device)  # start of the last cluster
    for row in range(1, clusters):
        previous, back[row] = _solve_row(sums, previous, row)
    starts = [0] * clusters
    end = m - 1
    for row in range(clusters - 1, 0, -1):
        starts[row] = int(back[row, end])
        end = starts[row] - 1
    return torch.tensor(starts, device=x.device)


def _solve_row(sums: _PrefixSums, previous: torch.Tensor, row: int) -> tuple[torch.Tensor, torch.Tensor]:
    """D[row+1][i] and its argmin start j for every i >= row, by level-synchronous divide and conquer.

    ``previous[i]`` is the best cost of ``row`` clusters over values 0..i (inf where impossible).
    """
    m = previous.numel()
    device = previous.device
    current = torch.full_like(previous, float("inf"))
    best_start = torch.zeros(m, dtype=torch.int32, device=device)
    # open subproblems: i in [i_lo, i_hi] whose optimal start lies in [j_lo, j_hi]
    i_lo = torch.tensor([row], device=device)
    i_hi = torch.tensor([m - 1], device=device)
    j_lo = torch.tensor([row], device=device)
    j_hi = torch.tensor([m - 1], device=device)
    while i_lo.numel():
        mid = (i_lo + i_hi) // 2
        top = torch.minimum(j_hi, mid)
        lengths = top - j_lo + 1
        task = torch.repeat_interleave(torch.arange(mid.numel(), device=device), lengths)
        first = torch.cumsum(lengths, 0) - lengths
        start = j_lo[task] + torch.arange(task.numel(), device=device) - first[task]
        total = previous[start - 1] + sums.cost(start, mid[task])
        best = torch.full_like(mid, float("inf"), dtype=total.dtype).scatter_reduce(0, task, total, "amin")
        # the smallest start reaching the minimum: deterministic ties
        candidate = torch.where(total == best[task], start, torch.full_like(start, m))
        split = torch.full_like(mid, m).scatter_reduce(0, task, candidate, "amin")
        current[mid] = best
        best_start[mid] = split.to(torch.int32)
        left = mid > i_lo
        right = mid < i_hi
        i_lo, i_hi, j_lo, j_hi = (
            torch.cat([i_lo[left], mid[right] + 1]),
            torch.cat([mid[left] - 1, i_hi[right]]),
            torch.cat([j_lo[left], split[right]]),
            torch.cat([split[left], j_hi[right]]),
        )
    return current, best_start


def _centroids(x: torch.Tensor, w: torch.Tensor, starts: torch.Tensor) -> tuple[torch.Tensor, float, torch.Tensor]:
    """Weighted means of the clusters, their total SSE, and the cluster of every distinct value."""
    cluster = torch.zeros(x.numel(), dtype=torch.long, device=x.device)
    cluster[starts[1:]] = 1
    cluster = torch.cumsum(cluster, 0)
    count = len(starts)
    mass = torch.zeros(count, dtype=x.dtype, device=x.device).scatter_add_(0, cluster, w)
    total = torch.zeros(count, dtype=x.dtype, device=x.device).scatter_add_(0, cluster, w * x)
    plain = torch.zeros(count, dtype=x.dtype, device=x.device).scatter_add_(0, cluster, x)
    sizes = torch.bincount(cluster, minlength=count).to(x.dtype)
    # a cluster whose values all have weight 0 takes its plain mean (any value is optimal for it)
    codebook = torch.where(mass > 0, total / mass.clamp_min(torch.finfo(x.dtype).tiny), plain / sizes)
    sse = float((w * (x - codebook[cluster]) ** 2).sum())
    return codebook, sse, cluster
