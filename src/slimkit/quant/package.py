"""A compressed model to and from its ``.dpz`` file, and what the file costs layer by layer.

The file holds the model config (``architecture``), so ``load_compressed_model`` needs nothing else
to rebuild the network: the decoded weights are bit-identical to the weight-shared model's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from torch import nn

from slimkit.quant.dpz import QuantizedTensor, encode_dpz, read_dpz, read_header
from slimkit.quant.quantized_weight import compressed_weights


def architecture_of(model_cfg: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> dict[str, Any]:
    """What the decoder needs to build the network again: the model config and its data sizes."""
    channels, size, _ = input_shape
    return {"model": model_cfg, "in_channels": channels, "num_classes": num_classes, "input_size": size}


def plain_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state of the network without parametrizations: each compressed layer's ``weight`` as the
    layer currently sees it. (Not ``remove_parametrizations`` on a deep copy: it deletes the weight
    property from the parametrized class, which the copy shares with the original.)"""
    layers = compressed_weights(model)
    state = {}
    for name, tensor in model.state_dict().items():
        layer_name, _, rest = name.partition(".parametrizations.weight.")
        if not rest:
            state[name] = tensor
        elif rest == "original":
            state[f"{layer_name}.weight"] = layers[layer_name][0].weight.detach()
    return state


def split_tensors(
    model: nn.Module, dense_dtype: str = "float32"
) -> tuple[dict[str, QuantizedTensor], dict[str, np.ndarray]]:
    """The weight-shared layers as QuantizedTensors and every other floating tensor as dense ``dense_dtype``."""
    quantized = {}
    for name, (layer, compressed) in compressed_weights(model).items():
        mask = compressed.mask.reshape(-1).cpu()
        positions = None if bool(mask.all()) else torch.nonzero(mask).reshape(-1).numpy()
        quantized[f"{name}.weight"] = QuantizedTensor(
            shape=tuple(layer.weight.shape),
            codebook=compressed.codebook.detach().cpu().float().numpy(),
            indices=compressed.assignment.reshape(-1).cpu()[mask].numpy(),
            positions=positions,
        )
    dense = {
        name: tensor.detach().cpu().float().numpy().astype(dense_dtype)
        for name, tensor in plain_state_dict(model).items()
        if name not in quantized and tensor.is_floating_point()
    }
    return quantized, dense


def encode_compressed_model(
    model: nn.Module, architecture: dict[str, Any], entropy_coding: bool = True, dense_dtype: str = "float32"
) -> bytes:
    """The .dpz file of the weight-shared ``model``."""
    quantized, dense = split_tensors(model, dense_dtype)
    return encode_dpz(quantized, dense, architecture, entropy_coding=entropy_coding)


def load_compressed_model(path: str | Path) -> nn.Module:
    """The plain network a .dpz file describes, with its decoded weights."""
    quantized, dense, architecture = read_dpz(path)
    model = instantiate(
        architecture["model"],
        in_channels=architecture["in_channels"],
        num_classes=architecture["num_classes"],
        input_size=architecture["input_size"],
    )
    state = {name: torch.from_numpy(tensor.dense()) for name, tensor in quantized.items()}
    state |= {name: torch.from_numpy(array) for name, array in dense.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [name for name in missing if not name.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path} does not match its architecture: missing {missing}, unexpected {unexpected}")
    return model


def bits_per_layer(path: str | Path) -> dict[str, dict[str, float]]:
    """Per quantized tensor of a .dpz file: kept weights and the bits per kept weight its indices and
    positions take in the file."""
    report = {}
    for entry in read_header(path)["tensors"]:
        if entry["kind"] != "quantized":
            continue
        kept = max(entry["indices"]["count"], 1)
        position_bytes = entry.get("positions", {}).get("nbytes", 0)
        report[entry["name"]] = {
            "kept": entry["indices"]["count"],
            "index_bits": 8 * entry["indices"]["nbytes"] / kept,
            "position_bits": 8 * position_bytes / kept,
            "index_encoding": entry["indices"]["encoding"],
        }
    return report


@torch.no_grad()
def round_dense_tensors(model: nn.Module, dtype: torch.dtype) -> None:
    """Round every floating tensor that the file stores dense (not the shared weights) to ``dtype``'s
    precision, in place, so that the model tested is exactly the one the file decodes to."""
    shared = {f"{name}.parametrizations.weight.original" for name in compressed_weights(model)}
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and name not in shared and ".parametrizations.weight.0." not in name:
            tensor.copy_(tensor.to(dtype).to(tensor.dtype))
