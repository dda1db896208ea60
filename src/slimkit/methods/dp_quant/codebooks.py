"""The two ways to pick a layer's k shared values: DP-Net's exact DP and Deep Compression's k-means.

Both return (codebook, cluster of every value); ``sse`` scores either on the same values.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans

from slimkit.quant import optimal_codebook


def dp_codebook(values: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The SSE-optimal codebook (exact dynamic programming)."""
    result = optimal_codebook(values, k)
    return result.codebook.to(values.dtype), result.assignment


def kmeans_codebook(values: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means from linear initialisation (k values evenly spaced over [min, max]), the
    initialisation Deep Compression found best; deterministic (one init, no randomness)."""
    flat = values.detach().reshape(-1).cpu().double().numpy()
    distinct = np.unique(flat)
    if distinct.size <= k:  # every value its own centroid: what k-means converges to, without warnings
        codebook = distinct
        assignment = np.searchsorted(distinct, flat)
    else:
        init = np.linspace(flat.min(), flat.max(), k).reshape(-1, 1)
        fitted = KMeans(n_clusters=k, init=init, n_init=1, max_iter=300, tol=0.0).fit(flat.reshape(-1, 1))
        codebook, assignment = fitted.cluster_centers_.reshape(-1), fitted.labels_
    return (
        torch.from_numpy(codebook).to(values.dtype).to(values.device),
        torch.from_numpy(assignment).long().to(values.device).reshape(values.shape),
    )


def sse(values: torch.Tensor, codebook: torch.Tensor, assignment: torch.Tensor) -> float:
    """Sum of squared errors of ``values`` against their assigned codebook entries (in float64)."""
    return float((values.double() - codebook.double()[assignment]).pow(2).sum())


QUANTIZERS = {"dp": dp_codebook, "kmeans": kmeans_codebook}
