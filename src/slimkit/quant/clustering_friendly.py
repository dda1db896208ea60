"""The two DP-Net training schemes as differentiable operations (REFERENCE.md section 1, *inferred*).

DPR: the exact clustering cost SSE*_k(W) as a regulariser. SSE*_k(W) = min over codebooks of the
SSE; by the envelope theorem its gradient away from ties is 2 (w_i - c(w_i)), with c(w_i) the optimal
centroid of w_i's cluster, so one DP solve gives both value and gradient.
DPQ: the forward pass sees every weight replaced by its DP centroid; the backward pass is the
straight-through estimator (the gradient reaches the float weights unchanged).
"""

from __future__ import annotations

from typing import Any

import torch

from slimkit.quant.dp import optimal_codebook


class _ClusteringCost(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, weight: torch.Tensor, k: int) -> torch.Tensor:
        result = optimal_codebook(weight, k)
        ctx.save_for_backward(2.0 * (weight.detach().to(torch.float64) - result.dequantize()))
        return weight.new_tensor(result.sse)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (gradient,) = ctx.saved_tensors
        return (grad_output * gradient).to(grad_output.dtype), None


class _QuantizeStraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, weight: torch.Tensor, k: int) -> torch.Tensor:
        return optimal_codebook(weight, k).dequantize().to(weight.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad_output, None


def clustering_cost(weight: torch.Tensor, k: int) -> torch.Tensor:
    """SSE*_k(weight), the exact k-cluster cost, with its exact gradient (DPR's regulariser term)."""
    return _ClusteringCost.apply(weight, k)


def quantize_straight_through(weight: torch.Tensor, k: int) -> torch.Tensor:
    """``weight`` with every value replaced by its optimal centroid; identity gradient (DPQ)."""
    return _QuantizeStraightThrough.apply(weight, k)
