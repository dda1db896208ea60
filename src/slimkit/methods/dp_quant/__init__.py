"""``method=dp_quant``: DP-Net, exact DP weight quantization with pruning and Huffman coding."""

from slimkit.methods.dp_quant.runner import DpQuantRunner

__all__ = ["DpQuantRunner"]
