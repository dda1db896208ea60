"""Memory images of DP-quantized layers for the Verilog accelerator in hardware/ (format: hardware/README.md).

One directory per layer: ``layer.json`` (geometry, bit widths, scales), ``codebook.mem`` (signed fixed-point
codewords), ``indices.mem`` (the dense [row][column] cluster-index matrix), ``activations.mem`` (fixed-point
input vectors, im2col windows for a conv) and ``expected.mem`` (the integer golden outputs). The accelerator
only computes out[v][r] = sum_c codebook[index[r][c]] * act[v][c]; bias, BN and the nonlinearity stay on the
host. ``read_layer`` is the one parser of these files, shared by the tests and the cocotb testbenches.
The command that writes them for a dp_quant run is ``slimkit-export-hw`` (slimkit.accelerator.export).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from slimkit.accelerator.geometry import layer_geometry
from slimkit.quant.dpz import QuantizedTensor
from slimkit.quant.quantized_weight import quantizable_layers

FORMAT = "slimkit-dp-memory-image"
VERSION = 1
FILES = {
    "codebook": "codebook.mem",
    "indices": "indices.mem",
    "activations": "activations.mem",
    "expected": "expected.mem",
}


@dataclass(frozen=True)
class ExportedLayer:
    """One exported layer read back: ``meta`` is layer.json, the arrays are the .mem files as int64."""

    meta: dict[str, Any]
    codebook: np.ndarray  # (entries,)
    indices: np.ndarray  # (rows, columns)
    activations: np.ndarray  # (vectors, columns)
    expected: np.ndarray  # (vectors, rows)

    def real_outputs(self) -> np.ndarray:
        """The golden outputs in real units, shaped like the layer's output without bias: (N, rows) for fc,
        (N, rows, out_H, out_W) for conv."""
        values = self.expected.astype(np.float64) * self.meta["output_scale"]
        if self.meta["kind"] == "fc":
            return values
        out_h, out_w = self.meta["conv"]["output_size"]
        return values.reshape(self.meta["batch"], out_h, out_w, self.meta["rows"]).transpose(0, 3, 1, 2)


def frac_bits_for(max_abs: float, bits: int) -> int:
    """The largest f such that round(max_abs * 2**f) fits a signed ``bits``-bit word (f may be negative)."""
    if bits < 2:
        raise ValueError(f"a signed fixed-point word needs at least 2 bits, got {bits}")
    limit = 2 ** (bits - 1) - 1
    if max_abs == 0:
        return bits - 1
    frac = math.floor(math.log2(limit / max_abs)) + 1
    while round(max_abs * 2.0**frac) > limit:  # log2 may be off by one either way
        frac -= 1
    return frac


def to_fixed_point(values: np.ndarray, frac_bits: int) -> np.ndarray:
    """``values * 2**frac_bits`` rounded to the nearest integer (ties to even), as int64."""
    return np.rint(np.asarray(values, dtype=np.float64) * 2.0**frac_bits).astype(np.int64)


def golden_outputs(codebook: np.ndarray, indices: np.ndarray, activations: np.ndarray) -> np.ndarray:
    """The accelerator's integer model: out[v][r] = sum_c codebook[indices[r][c]] * activations[v][c] (int64)."""
    codebook, indices, activations = (np.asarray(a, dtype=np.int64) for a in (codebook, indices, activations))
    if indices.ndim != 2 or activations.ndim != 2 or indices.shape[1] != activations.shape[1]:
        raise ValueError(f"indices {indices.shape} and activations {activations.shape} must share their columns")
    largest = int(np.abs(codebook).max(initial=0)) * int(np.abs(activations).max(initial=0)) * indices.shape[1]
    if largest >= 2**63:
        raise ValueError("the sums could overflow int64: use narrower codebook or activation words")
    return activations @ codebook[indices].T


def export_layer(
    out_dir: str | Path,
    name: str,
    module: nn.Module,
    quantized: QuantizedTensor,
    inputs: torch.Tensor,
    *,
    codebook_bits: int = 8,
    activation_bits: int = 8,
    accumulator_bits: int = 32,
) -> Path:
    """Write the memory images of one Linear/Conv2d layer to ``out_dir/name/`` and return that directory.

    ``quantized`` holds the layer's weight (its shape must be the weight's); ``inputs`` is a float batch of the
    layer's inputs, (N, in_features) or (N, C, H, W). Raises ValueError for anything the accelerator cannot run.
    """
    _check_width("codebook_bits", codebook_bits, 32)
    _check_width("activation_bits", activation_bits, 32)
    _check_width("accumulator_bits", accumulator_bits, 64)
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"layer name {name!r} cannot be a directory name")
    kind, geometry = layer_geometry(module, tuple(inputs.shape))
    weight_shape = tuple(module.weight.shape)
    if tuple(quantized.shape) != weight_shape:
        raise ValueError(f"layer {name!r}: quantized shape {tuple(quantized.shape)} != weight shape {weight_shape}")
    codebook_float = np.asarray(quantized.codebook, dtype=np.float64)
    if codebook_float.size == 0 or not np.isfinite(codebook_float).all():
        raise ValueError(f"layer {name!r}: the codebook must be non-empty and finite")
    codebook_frac = frac_bits_for(float(np.abs(codebook_float).max()), codebook_bits)
    codebook, flat_indices, zero_index = _dense_indices(quantized, to_fixed_point(codebook_float, codebook_frac))
    rows = weight_shape[0]
    indices = flat_indices.reshape(rows, -1)  # conv: (out, c*kh*kw), the same order as F.unfold's columns

    batch = inputs.detach().to("cpu", torch.float64)
    if not torch.isfinite(batch).all():
        raise ValueError(f"layer {name!r}: the input batch holds NaN or infinite values")
    activation_frac = frac_bits_for(float(batch.abs().max()) if batch.numel() else 0.0, activation_bits)
    activations = _vectors(kind, geometry, to_fixed_point(batch.numpy(), activation_frac))
    expected = golden_outputs(codebook, indices, activations)
    low, high = -(2 ** (accumulator_bits - 1)), 2 ** (accumulator_bits - 1) - 1
    if expected.size and (expected.min() < low or expected.max() > high):
        raise ValueError(
            f"layer {name!r}: golden outputs span {expected.min()}..{expected.max()}, beyond a signed "
            f"{accumulator_bits}-bit accumulator; widen accumulator_bits or narrow the words"
        )

    index_bits = max(1, math.ceil(math.log2(len(codebook))))
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "kind": kind,
        "rows": rows,
        "columns": indices.shape[1],
        "vectors": activations.shape[0],
        "batch": int(batch.shape[0]) if kind == "conv" else activations.shape[0],
        "conv": geometry if kind == "conv" else None,
        "codebook_entries": len(codebook),
        "index_bits": index_bits,
        "zero_index": zero_index,
        "appended_zero": len(codebook) > len(codebook_float),
        "codebook_bits": codebook_bits,
        "codebook_frac_bits": codebook_frac,
        "activation_bits": activation_bits,
        "activation_frac_bits": activation_frac,
        "accumulator_bits": accumulator_bits,
        "output_frac_bits": codebook_frac + activation_frac,
        "output_scale": 2.0 ** -(codebook_frac + activation_frac),
        "files": dict(FILES),
    }
    layer_dir = Path(out_dir) / name
    layer_dir.mkdir(parents=True, exist_ok=True)
    _write_mem(layer_dir / FILES["codebook"], codebook, codebook_bits)
    _write_mem(layer_dir / FILES["indices"], indices, index_bits)
    _write_mem(layer_dir / FILES["activations"], activations, activation_bits)
    _write_mem(layer_dir / FILES["expected"], expected, accumulator_bits)
    (layer_dir / "layer.json").write_text(json.dumps(meta, indent=2) + "\n")
    return layer_dir


def export_model(
    out_dir: str | Path,
    model: nn.Module,
    quantized: Mapping[str, QuantizedTensor],
    layer_inputs: Mapping[str, torch.Tensor],
    *,
    codebook_bits: int = 8,
    activation_bits: int = 8,
    accumulator_bits: int = 32,
) -> dict[str, Any]:
    """Export every Linear/Conv2d of ``model`` whose weight is in ``quantized`` and write ``manifest.json``.

    ``quantized`` is keyed by parameter name (``"<module>.weight"``, as in a .dpz file) or by module name;
    ``layer_inputs`` by module name (see ``capture_layer_inputs``). Returns the manifest.
    """
    layers = []
    for name, module in quantizable_layers(model).items():
        tensor = quantized.get(f"{name}.weight", quantized.get(name))
        if tensor is None:
            continue
        if name not in layer_inputs:
            raise ValueError(f"layer {name!r} is quantized but has no input batch: capture it first")
        export_layer(
            out_dir,
            name,
            module,
            tensor,
            layer_inputs[name],
            codebook_bits=codebook_bits,
            activation_bits=activation_bits,
            accumulator_bits=accumulator_bits,
        )
        layers.append({"name": name, "directory": name, "kind": "fc" if isinstance(module, nn.Linear) else "conv"})
    if not layers:
        raise ValueError("no Linear/Conv2d layer of the model has a quantized weight")
    manifest = {"format": FORMAT, "version": VERSION, "layers": layers}
    (Path(out_dir) / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def quantized_layer_names(model: nn.Module, quantized: Mapping[str, QuantizedTensor]) -> list[str]:
    """The Linear/Conv2d module names of ``model`` that ``export_model`` would export."""
    return [name for name in quantizable_layers(model) if f"{name}.weight" in quantized or name in quantized]


def capture_layer_inputs(model: nn.Module, inputs: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
    """The inputs that the named modules see during one forward of ``inputs``, in eval mode (as at inference).

    Every module's train/eval flag is restored afterwards. A module called more than once is an error: the
    export needs one batch per layer.
    """
    modules = dict(model.named_modules())
    wanted = list(names)
    missing = [name for name in wanted if name not in modules]
    if missing:
        raise ValueError(f"the model has no modules named {missing}")
    captured: dict[str, torch.Tensor] = {}
    calls = dict.fromkeys(wanted, 0)

    def hook_for(name: str) -> Callable[[nn.Module, tuple], None]:
        def hook(_module: nn.Module, args: tuple) -> None:
            calls[name] += 1
            captured[name] = args[0].detach().cpu()

        return hook

    handles = [modules[name].register_forward_pre_hook(hook_for(name)) for name in wanted]
    flags = {module: module.training for module in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in flags.items():
            module.training = flag
    repeated = [name for name, count in calls.items() if count > 1]
    unused = [name for name, count in calls.items() if count == 0]
    if repeated or unused:
        raise ValueError(f"each layer must run exactly once per forward: called repeatedly {repeated}, never {unused}")
    return captured


def read_layer(layer_dir: str | Path) -> ExportedLayer:
    """Load one exported layer directory back into integers (the shared parser of the memory images)."""
    layer_dir = Path(layer_dir)
    meta = json.loads((layer_dir / "layer.json").read_text())
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"{layer_dir} is not a version-{VERSION} {FORMAT} layer")
    files = meta["files"]
    rows, columns, vectors = meta["rows"], meta["columns"], meta["vectors"]
    codebook = _read_mem(layer_dir / files["codebook"], meta["codebook_bits"], signed=True)
    indices = _read_mem(layer_dir / files["indices"], meta["index_bits"], signed=False)
    activations = _read_mem(layer_dir / files["activations"], meta["activation_bits"], signed=True)
    expected = _read_mem(layer_dir / files["expected"], meta["accumulator_bits"], signed=True)
    sizes = {
        "codebook": (codebook.size, meta["codebook_entries"]),
        "indices": (indices.size, rows * columns),
        "activations": (activations.size, vectors * columns),
        "expected": (expected.size, vectors * rows),
    }
    for key, (found, wanted) in sizes.items():
        if found != wanted:
            raise ValueError(f"{layer_dir / files[key]}: {found} words, layer.json says {wanted}")
    return ExportedLayer(
        meta,
        codebook,
        indices.reshape(rows, columns),
        activations.reshape(vectors, columns),
        expected.reshape(vectors, rows),
    )


def read_export(out_dir: str | Path) -> dict[str, ExportedLayer]:
    """Every layer listed in ``out_dir/manifest.json``, in manifest order."""
    manifest = json.loads((Path(out_dir) / "manifest.json").read_text())
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ValueError(f"{out_dir} is not a version-{VERSION} {FORMAT} export")
    return {layer["name"]: read_layer(Path(out_dir) / layer["directory"]) for layer in manifest["layers"]}


def _check_width(what: str, bits: int, most: int) -> None:
    if not 2 <= bits <= most:
        raise ValueError(f"{what} must be in 2..{most}, got {bits}")


def _dense_indices(quantized: QuantizedTensor, codebook: np.ndarray) -> tuple[np.ndarray, np.ndarray, int | None]:
    """The fixed-point codebook (a zero entry appended if pruned weights need one), the dense flat index
    array, and the index pruned weights point at (None when nothing is pruned)."""
    size = math.prod(quantized.shape)
    indices = np.asarray(quantized.indices, dtype=np.int64).reshape(-1)
    if indices.size and (indices.min() < 0 or indices.max() >= codebook.size):
        raise ValueError(f"indices must lie in 0..{codebook.size - 1}")
    if quantized.positions is None:
        if indices.size != size:
            raise ValueError(f"{indices.size} indices for a dense tensor of {size} weights")
        return codebook, indices, None
    positions = np.asarray(quantized.positions, dtype=np.int64).reshape(-1)
    if positions.size != indices.size:
        raise ValueError(f"{indices.size} indices for {positions.size} kept positions")
    if positions.size and (positions.min() < 0 or positions.max() >= size):
        raise ValueError(f"kept positions must lie in 0..{size - 1}")
    if positions.size == size:
        dense = np.empty(size, dtype=np.int64)
        dense[positions] = indices
        return codebook, dense, None
    zeros = np.flatnonzero(codebook == 0)
    if zeros.size:
        zero_index = int(zeros[0])
    else:  # no codeword rounds to 0: pruned weights get their own
        zero_index = codebook.size
        codebook = np.append(codebook, np.int64(0))
    dense = np.full(size, zero_index, dtype=np.int64)
    dense[positions] = indices
    return codebook, dense, zero_index


def _vectors(kind: str, geometry: dict[str, Any], batch: np.ndarray) -> np.ndarray:
    """The accelerator's input vectors, (vectors, columns): the rows of an fc batch, or a conv's im2col
    windows (vector = (n, out_y, out_x) row-major; column = (c, ky, kx), torch's unfold order)."""
    if kind == "fc":
        return batch
    columns = F.unfold(
        torch.from_numpy(batch).to(torch.float64),  # integers well below 2**53: exact
        kernel_size=geometry["kernel"],
        dilation=geometry["dilation"],
        padding=geometry["padding"],
        stride=geometry["stride"],
    )
    return columns.transpose(1, 2).reshape(-1, columns.shape[1]).to(torch.int64).numpy()


def _write_mem(path: Path, values: np.ndarray, bits: int) -> None:
    """One hex word per line ($readmemh), two's complement in ``bits`` bits, zero-padded to ceil(bits/4) digits."""
    digits = math.ceil(bits / 4)
    mask = (1 << bits) - 1
    words = (f"{value & mask:0{digits}x}" for value in np.asarray(values).reshape(-1).tolist())
    path.write_text("".join(f"{word}\n" for word in words))


def _read_mem(path: Path, bits: int, *, signed: bool) -> np.ndarray:
    words = [int(line, 16) for line in path.read_text().split()]
    if any(word >> bits for word in words):
        raise ValueError(f"{path}: a word wider than {bits} bits")
    if signed:  # sign-extend in Python ints, which a 64-bit word would overflow in int64
        words = [word - (1 << bits) if word >> (bits - 1) else word for word in words]
    return np.array(words, dtype=np.int64)
