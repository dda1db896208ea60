"""Exact weight quantization (DP-Net) and, later, the compressed-model format."""

from slimkit.quant.dp import Quantization, optimal_codebook

__all__ = ["Quantization", "optimal_codebook"]
