"""Compiled CPU kernels (numba) of the exact 1-D k-means of :mod:`slimkit.quant.dp`.

Input: the m distinct values x_0 < ... < x_{m-1} with weights w_i >= 0 and a cluster count 1 < k < m.
Output: the start index of each of the k clusters of a partition into contiguous runs of minimum
total weighted SSE. Prefix sums S0, S1, S2 of w, w*y, w*y^2 (float64, y = x less the median) give the
cost of any run in O(1): cost(j, e) = S2[e]-S2[j] - (S1[e]-S1[j])^2 / (S0[e]-S0[j]). S1 and S2 are
compensated (a high and a low part, Knuth's TwoSum), and the DP values are plain SSEs, not SSE - S2:
with heavy tails (Cauchy), S2 of the middle values is dwarfed by the tails', and plain float64
prefix sums lose enough digits there to miss the optimum by 1e-8 (n = 5e4, k = 700).

Main path: Lagrangian relaxation (the "WQS" or "Aliens" method; Gronlund et al. 2017, section 4).
For a penalty lam > 0 per cluster, the unconstrained problem
    G[e] = min_{j < e} G[j] + cost(j, e) + lam,   G[0] = 0,
is solved in one left-to-right pass. The cost is Monge, so the best j is non-decreasing in e, and a
deque of candidates, each owning the interval of ends where it wins, finds every G[e] with about 12
cost evaluations per value (Galil & Park 1990; a new candidate's interval is found by galloping from
the end of the last one, usually in one or two steps). The number of clusters c(lam) of that optimum
falls as lam grows, and since the optimal SSE f(k) is convex in k, any lam whose optimum has exactly
k clusters gives an optimal k-clustering: for every k-partition P,
    SSE(opt) + lam*k = G[m] <= SSE(P) + lam*k.
lam starts at 2H/k (f ~ C/k^2; H = the SSE of the greedy partition into k runs of smallest largest
cost, within ~1 % of f on normal data) and moves by that model until the optima found bracket k, then
to the crossing of the lines SSE + lam*count of the two bracketing optima (Newton's method on the
concave, piecewise linear G[m](lam)). Measured on this project's 2-core CPU (normal, t, Cauchy,
mirrored, uniform, exponential and float32-rounded data, n = 1e6): 1 to 9 passes of ~0.08 s;
0.6 s in all at k = 255, 0.4 s at n = 4e6. Time O(m) per pass, memory O(m): ~60 bytes per distinct
value (prefix sums 40, G 8, back-pointers 4, deque 8) and no back-pointer table at all, where the
public tools keep ~16 k m bytes.

Fallback, when no penalty gives exactly k clusters (ties in the marginal SSE: f linear across k, as
for [0, 1, 10, 11] and k = 3; also when rounding hides the crossing, seen for k > m/2 on heavy tails):
the classic row DP
    D[r][i] = min_j D[r-1][j-1] + cost(j, i)   (r+1 clusters over x_0..x_i),
each row by divide and conquer over i with the split bounds
    opt[r][i_lo] <= opt[r][i] <= opt[r][i_hi] for i_lo < i < i_hi   (the cost is Monge), and
    opt[r-1][i] <= opt[r][i]                                      (Knuth's bound),
which hold for the smallest-start argmins kept here (tests check both on brute-force tables); Knuth's
bound is enforced, so the computed rows keep it by construction. Only cells that can lie on an
optimal path are computed: D[r][i] is non-decreasing in i, so cells above the bound H (the best
feasible SSE seen, plus a rounding margin) are dropped, a suffix of each row; and Knuth's bound
iterated from the last cell (opt[r-1] applied k-1-r times to m-1) bounds the path cell of row r
from below, a prefix of the late rows. That leaves ~a third of the k m cells on normal data (1e6,
k = 255: 3 s, against 10 s for the whole table). A row's back-pointers are non-decreasing in i, so
its band is stored as a unary bit string (opt[i] - opt[i-1] zeros, then a one): at most 2 bits per
cell, k m / 4 bytes in the worst case (16x less than int32), decoded to the very same split points
while backtracking.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_TINY = float(np.finfo(np.float64).tiny)
_MAX_PASSES = 60
_POPCOUNT = np.array([bin(byte).count("1") for byte in range(256)], dtype=np.int64)
# rows of the prefix-sum table: S0, then S1 and S2 each as a compensated (high, low) pair
_S0, _S1, _S1_LOW, _S2, _S2_LOW = range(5)


def optimal_starts(x: np.ndarray, w: np.ndarray, k: int, method: str = "auto") -> np.ndarray:
    """Start index (into ``x``) of each of the ``k`` clusters of an optimal partition, as int64.

    ``x``: strictly increasing float64 values; ``w``: their weights (>= 0); 1 <= k <= len(x).
    ``method``: "auto" (Lagrangian, DP fallback), "dp" (always the row DP) or "lagrangian"
    (returns an empty array when no penalty gives exactly k clusters).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    m = x.size
    if not 1 <= k <= m or w.size != m:
        raise ValueError(f"need 1 <= k <= {m} values with one weight each, got k={k} and {w.size} weights")
    if method not in ("auto", "dp", "lagrangian"):
        raise ValueError(f"unknown method {method!r}")
    if k == 1:
        return np.zeros(1, dtype=np.int64)
    if k == m:
        return np.arange(m, dtype=np.int64)
    sums = _prefix_sums(x, w)
    bound = _greedy_bound(sums, k)
    if method != "dp":
        starts, bound = _lagrangian_starts(sums, k, bound)
        if starts.size == k or method == "lagrangian":
            return starts
    starts = _dp_starts(sums, k, bound)
    if starts.size != k:  # only if rounding broke the pruning bound: recompute without it
        starts = _dp_starts(sums, k, np.inf)
    return starts


@njit(cache=True)
def _prefix_sums(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Prefix sums (5 rows, m+1 columns) of w, w*y, w*y^2 with y = x less its (lower) median.

    S1 and S2 are kept as high + low parts (Knuth's TwoSum), so that the difference of two far-out
    prefix sums keeps its digits: with heavy tails, S2 of the middle values is dwarfed by the tails'.
    """
    m = x.size
    shift = x[(m - 1) // 2]
    sums = np.zeros((5, m + 1))
    for i in range(m):
        y = x[i] - shift
        sums[_S0, i + 1] = sums[_S0, i] + w[i]
        for row, term in ((_S1, w[i] * y), (_S2, w[i] * y * y)):
            high = sums[row, i]
            total = high + term
            back = total - high
            sums[row, i + 1] = total
            sums[row + 1, i + 1] = sums[row + 1, i] + ((high - (total - back)) + (term - back))
    return sums


@njit(cache=True, inline="always")
def _run_cost(sums: np.ndarray, start: int, end: int) -> float:
    """SSE of the run of values start..end-1 (may be -1e-18 or so where it is exactly 0)."""
    d0 = sums[_S0, end] - sums[_S0, start]
    d1 = (sums[_S1, end] - sums[_S1, start]) + (sums[_S1_LOW, end] - sums[_S1_LOW, start])
    d2 = (sums[_S2, end] - sums[_S2, start]) + (sums[_S2_LOW, end] - sums[_S2_LOW, start])
    return d2 - d1 * d1 / max(d0, _TINY)


@njit(cache=True)
def _greedy_runs(sums: np.ndarray, limit: float, k: int, starts: np.ndarray) -> int:
    """Cover the values left to right by maximal runs of cost <= limit; their count (k+1 = too many)."""
    m = sums.shape[1] - 1
    start = 0
    count = 0
    while start < m:
        if count == k:
            return k + 1
        starts[count] = start
        count += 1
        good = start + 1  # a single value costs 0
        bad = m + 1
        step = 1
        while good < m:
            end = min(good + step, m)
            if _run_cost(sums, start, end) <= limit:
                good = end
                step *= 2
            else:
                bad = end
                break
        while bad - good > 1:
            end = (good + bad) >> 1
            if _run_cost(sums, start, end) <= limit:
                good = end
            else:
                bad = end
        start = good
    return count


@njit(cache=True)
def _greedy_bound(sums: np.ndarray, k: int) -> float:
    """An upper bound of the optimal SSE: the partition into at most k runs of smallest largest cost."""
    m = sums.shape[1] - 1
    starts = np.empty(k + 1, np.int64)
    low = 0.0
    high = max(_run_cost(sums, 0, m), 0.0)
    for _ in range(64):
        middle = 0.5 * (low + high)
        if middle <= low or middle >= high:
            break
        if _greedy_runs(sums, middle, k, starts) <= k:
            high = middle
        else:
            low = middle
    count = _greedy_runs(sums, high, k, starts)
    starts[count] = m
    total = 0.0
    for t in range(count):
        total += max(_run_cost(sums, starts[t], starts[t + 1]), 0.0)
    return total


@njit(cache=True)
def _penalized_partition(
    sums: np.ndarray,
    penalty: float,
    value: np.ndarray,
    back: np.ndarray,
    queue_start: np.ndarray,
    queue_from: np.ndarray,
) -> int:
    """Optimal partition for SSE + penalty * clusters; returns its cluster count.

    value[e] = that optimum over the first e values and back[e] = the start of its last run.
    """
    m = sums.shape[1] - 1
    value[0] = 0.0
    queue_start[0] = 0  # candidate: a run starting at this index ...
    queue_from[0] = 1  # ... is the best for every end from here to the next candidate's
    head = 0
    tail = 1
    for end in range(1, m + 1):
        while tail - head > 1 and queue_from[head + 1] <= end:
            head += 1
        start = queue_start[head]
        value[end] = value[start] + _run_cost(sums, start, end) + penalty
        back[end] = start
        if end == m:
            break
        # a run starting at `end` beats the older candidate b from some end on (Monge) and then for good
        while tail > head:
            b = queue_start[tail - 1]
            first = max(queue_from[tail - 1], end + 1)
            if value[end] + _run_cost(sums, end, first) < value[b] + _run_cost(sums, b, first):
                tail -= 1  # b never wins again
            else:
                break
        if tail == head:
            queue_start[tail] = end
            queue_from[tail] = end + 1
            tail += 1
            continue
        b = queue_start[tail - 1]
        good = max(queue_from[tail - 1], end + 1)  # b still wins (or ties) here
        bad = m + 1
        step = 1
        while good < m:
            probe = min(good + step, m)
            if value[end] + _run_cost(sums, end, probe) < value[b] + _run_cost(sums, b, probe):
                bad = probe
                break
            good = probe
            step *= 2
        while bad - good > 1:
            probe = (good + bad) >> 1
            if value[end] + _run_cost(sums, end, probe) < value[b] + _run_cost(sums, b, probe):
                bad = probe
            else:
                good = probe
        if bad <= m:
            queue_start[tail] = end
            queue_from[tail] = bad
            tail += 1
    count = 0
    end = m
    while end > 0:
        end = back[end]
        count += 1
    return count


@njit(cache=True)
def _lagrangian_starts(sums: np.ndarray, k: int, bound: float) -> tuple[np.ndarray, float]:
    """Cluster starts from a penalty whose optimum has exactly k clusters (empty if none was found),
    and the best upper bound of the optimal SSE seen."""
    m = sums.shape[1] - 1
    value = np.empty(m + 1)
    back = np.empty(m + 1, np.int32)
    queue_start = np.empty(m + 1, np.int32)
    queue_from = np.empty(m + 1, np.int32)
    penalty = 2.0 * bound / k
    below = False  # a solution with more than k clusters (penalty too small) ...
    above = False  # ... and one with fewer: the lines sse + penalty * count of both
    below_penalty = below_sse = above_penalty = above_sse = 0.0
    below_count = above_count = 0
    for _ in range(_MAX_PASSES):
        if not (penalty > 0.0 and penalty < np.inf):
            break
        crossing = below and above
        count = _penalized_partition(sums, penalty, value, back, queue_start, queue_from)
        sse = value[m] - penalty * count
        if count == k:
            starts = np.empty(k, np.int64)
            end = m
            for cluster in range(k - 1, -1, -1):
                end = back[end]
                starts[cluster] = end
            return starts, bound
        if crossing and not above_count < count < below_count:
            break  # the SSE is linear in the count across k (ties): no penalty isolates k
        if count > k:
            below, below_penalty, below_sse, below_count = True, penalty, sse, count
        else:
            above, above_penalty, above_sse, above_count = True, penalty, sse, count
            bound = min(bound, sse)  # fewer than k clusters: an upper bound of the optimal SSE
        if below and above:
            penalty = (above_sse - below_sse) / (below_count - above_count)
            if not below_penalty < penalty < above_penalty:
                break
        else:  # model f(c) ~ C / c^2, slope 2 f(c) c^2 / k^3 at k, if it moves the right way; else double
            model = 2.0 * sse * count * count / (k * k * k)
            if count > k:
                penalty = min(model, 4.0 * penalty) if model > 1.01 * penalty else 2.0 * penalty
            else:
                penalty = max(model, 0.25 * penalty) if model < penalty / 1.01 else 0.5 * penalty
    return np.empty(0, np.int64), bound


@njit(cache=True, inline="always")
def _best_start(previous: np.ndarray, sums: np.ndarray, end: int, low: int, high: int) -> tuple[float, int]:
    """Smallest start in low..high minimising previous[start] + cost(start, end), and that minimum."""
    s0 = sums[_S0, end]
    s1 = sums[_S1, end]
    s1_low = sums[_S1_LOW, end]
    s2 = sums[_S2, end]
    s2_low = sums[_S2_LOW, end]
    best = np.inf
    arg = low
    for start in range(low, high + 1):
        d0 = s0 - sums[_S0, start]
        d1 = (s1 - sums[_S1, start]) + (s1_low - sums[_S1_LOW, start])
        d2 = (s2 - sums[_S2, start]) + (s2_low - sums[_S2_LOW, start])
        candidate = previous[start] + (d2 - d1 * d1 / max(d0, _TINY))
        if candidate < best:
            best = candidate
            arg = start
    return best, arg


@njit(cache=True)
def _band_row(
    previous: np.ndarray,
    current: np.ndarray,
    sums: np.ndarray,
    previous_opt: np.ndarray,
    previous_hi: int,
    opt: np.ndarray,
    lo: int,
    hi: int,
    floor: int,
    stack: np.ndarray,
) -> None:
    """Cells lo..hi of one DP row by divide and conquer; starts in floor..previous_hi+1, at least Knuth's bound."""
    stack[0, 0] = lo
    stack[0, 1] = hi
    stack[0, 2] = floor
    stack[0, 3] = previous_hi + 1
    depth = 1
    while depth > 0:
        depth -= 1
        i_lo = stack[depth, 0]
        i_hi = stack[depth, 1]
        j_lo = stack[depth, 2]
        j_hi = stack[depth, 3]
        middle = (i_lo + i_hi) >> 1
        low = max(j_lo, previous_opt[min(middle, previous_hi)])
        high = min(j_hi, middle)
        best, arg = _best_start(previous, sums, middle + 1, low, high)
        current[middle + 1] = best
        opt[middle] = arg
        if middle < i_hi:
            stack[depth, 0] = middle + 1
            stack[depth, 1] = i_hi
            stack[depth, 2] = arg
            stack[depth, 3] = j_hi
            depth += 1
        if middle > i_lo:
            stack[depth, 0] = i_lo
            stack[depth, 1] = middle - 1
            stack[depth, 2] = j_lo
            stack[depth, 3] = arg
            depth += 1


@njit(cache=True)
def _decode(pool: np.ndarray, first_bit: int, ones: int) -> int:
    """Zeros before the ``ones``-th one bit from ``first_bit`` (bits little-endian within bytes)."""
    byte = first_bit >> 3
    skipped = first_bit & 7
    bits = (np.int64(pool[byte]) >> skipped) << skipped  # drop the bits of the previous row
    seen = 0
    while True:
        here = _POPCOUNT[bits]
        if seen + here >= ones:
            break
        seen += here
        byte += 1
        bits = np.int64(pool[byte])
    position = byte * 8
    while True:
        if bits & 1:
            seen += 1
            if seen == ones:
                return position - first_bit - (ones - 1)
        bits >>= 1
        position += 1


@njit(cache=True)
def _dp_starts(sums: np.ndarray, k: int, bound: float) -> np.ndarray:
    """Cluster starts by the row DP restricted to the cells that can lie on an optimal path.

    Empty if the backtrack leaves the kept cells (only possible if rounding broke ``bound``).
    """
    m = sums.shape[1] - 1
    limit = bound * (1.0 + 1e-8) + 1e-13 * (k + 8) * sums[_S2, m]  # margin: rounding of the DP values
    previous = np.empty(m + 1)  # by end e = i + 1: D[r][i]
    current = np.empty(m + 1)
    previous_opt = np.zeros(m, np.int32)
    opt = np.zeros(m, np.int32)
    stack = np.empty((2 * 64 + 4, 4), np.int64)
    row_lo = np.zeros(k, np.int64)
    row_hi = np.zeros(k, np.int64)
    row_base = np.zeros(k, np.int64)
    row_bit = np.zeros(k, np.int64)
    pool = np.zeros(max(64, m // 4), np.uint8)
    bit = 0
    # row 0: one cluster over 0..i, kept while its cost is within the bound
    hi = m - k
    for end in range(1, m - k + 2):
        cost = _run_cost(sums, 0, end)
        if cost > limit:
            hi = end - 2
            break
        previous[end] = cost
    previous_lo = 0
    previous_hi = max(hi, 0)
    for row in range(1, k - 1):
        last = m - k + row  # later clusters need one value each
        # Knuth's bound iterated from the last cell: the path cell of row t is >= lo
        lo = m - 1
        for t in range(k - 2, row - 1, -1):
            lo = max(previous_opt[min(lo, previous_hi)] - 1, previous_lo, t)
        lo = min(max(lo, previous_lo + 1, row), last)  # (> previous_lo holds anyway, by the same bound)
        floor = max(row, previous_lo + 1)
        # the row is non-decreasing in i: its last cell within the bound, by galloping then bisection
        good = max(lo, previous_hi)
        low = max(previous_opt[previous_hi], floor)
        bad = last + 1
        step = 1
        while good < last:
            probe = min(good + step, last)
            best, _ = _best_start(previous, sums, probe + 1, low, previous_hi + 1)
            if best <= limit:
                good = probe
                step *= 2
            else:
                bad = probe
                break
        while bad - good > 1:
            probe = (good + bad) >> 1
            best, _ = _best_start(previous, sums, probe + 1, low, previous_hi + 1)
            if best <= limit:
                good = probe
            else:
                bad = probe
        hi = good
        _band_row(previous, current, sums, previous_opt, previous_hi, opt, lo, hi, floor, stack)
        # the row's back-pointers as unary deltas: (opt[i] - opt[i-1]) zeros, then a one
        need = (bit + (hi - lo + 1) + (opt[hi] - opt[lo])) // 8 + 2
        if need > pool.size:
            grown = np.zeros(max(need, 2 * pool.size), np.uint8)
            grown[: pool.size] = pool
            pool = grown
        row_lo[row] = lo
        row_hi[row] = hi
        row_base[row] = opt[lo]
        row_bit[row] = bit
        before = opt[lo]
        for i in range(lo, hi + 1):
            bit += opt[i] - before
            before = opt[i]
            pool[bit >> 3] |= np.uint8(1 << (bit & 7))
            bit += 1
        previous, current = current, previous
        previous_opt, opt = opt, previous_opt
        previous_lo = lo
        previous_hi = hi
    # the last cluster ends at m-1, then back through the rows
    starts = np.zeros(k, np.int64)
    low = max(previous_opt[min(m - 1, previous_hi)], k - 1, previous_lo + 1)
    best, arg = _best_start(previous, sums, m, low, min(m - 1, previous_hi + 1))
    if not best <= limit:
        return np.empty(0, np.int64)
    starts[k - 1] = arg
    end = arg - 1
    for row in range(k - 2, 0, -1):
        if not row_lo[row] <= end <= row_hi[row]:
            return np.empty(0, np.int64)
        starts[row] = row_base[row] + _decode(pool, row_bit[row], end - row_lo[row] + 1)
        end = starts[row] - 1
    return starts
