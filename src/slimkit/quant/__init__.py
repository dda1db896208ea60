"""Quantized weights: the exact DP quantizer (``dp``), the weight parametrizations of dp_quant and spos_bits
(``quantized_weight``), pruning masks, Huffman coding, the ``.dpz`` format and model <-> file packaging
(``package``). Nothing here imports slimkit.methods."""

from slimkit.quant.dp import Quantization, optimal_codebook

__all__ = ["Quantization", "optimal_codebook"]
