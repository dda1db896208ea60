"""Export DP-quantized layers of a dp_quant run to the accelerator's memory images (hardware/README.md).

    slimkit-export-hw outputs/<run>/model.dpz -o hw_export/ [--layer features.0 ...] [--samples 2]
    python -m slimkit.accelerator.export ...   (the same)

The network is rebuilt from the .dpz file; the layer inputs that the golden model multiplies are
captured from ``--samples`` test images of the run's own data (``.hydra/config.yaml`` next to the file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from slimkit.accelerator.memory_images import capture_layer_inputs, export_model, quantized_layer_names
from slimkit.cli import EXIT_USER_ERROR
from slimkit.errors import ConfigError
from slimkit.quant.dpz import DpzFormatError, read_dpz
from slimkit.quant.package import load_compressed_model


def sample_images(dpz_path: Path, count: int) -> torch.Tensor:
    """The first ``count`` test images of the data the run in ``dpz_path``'s folder was trained on."""
    config = dpz_path.parent / ".hydra" / "config.yaml"
    if not config.is_file():
        raise ConfigError(f"{config} not found: export needs the run folder the .dpz file was written in")
    datamodule = instantiate(OmegaConf.load(config).data)
    datamodule.setup("test")
    images = [image for image, _ in (datamodule.test_set[index] for index in range(count))]
    return torch.stack(images)


def export(dpz_path: Path, out_dir: Path, layers: list[str] | None, samples: int, bits: dict[str, int]) -> dict:
    """Write the memory images of ``layers`` (default: every quantized layer) of the .dpz model; the manifest."""
    quantized = read_dpz(dpz_path)[0]
    model = load_compressed_model(dpz_path).eval()
    names = quantized_layer_names(model, quantized)
    chosen = layers or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        raise ConfigError(f"--layer {', '.join(unknown)}: not a quantized layer; choose from {', '.join(names)}")
    inputs = capture_layer_inputs(model, sample_images(dpz_path, samples), chosen)
    selected = {name: quantized[f"{name}.weight"] for name in chosen}
    return export_model(out_dir, model, selected, inputs, **bits)


def main(argv: list[str] | None = None) -> int:
    """The ``slimkit-export-hw`` command; its exit status (2: a user error, said in one line)."""
    parser = argparse.ArgumentParser(prog="slimkit-export-hw", description=__doc__.splitlines()[0])
    parser.add_argument("dpz", type=Path, help="model.dpz of a method=dp_quant run")
    parser.add_argument("-o", "--out", type=Path, required=True, help="folder for manifest.json and layer folders")
    parser.add_argument("--layer", action="append", help="a layer to export (repeatable); default: all")
    parser.add_argument("--samples", type=int, default=1, help="test images whose layer inputs are exported")
    parser.add_argument("--codebook-bits", type=int, default=8)
    parser.add_argument("--activation-bits", type=int, default=8)
    parser.add_argument("--accumulator-bits", type=int, default=32)
    args = parser.parse_args(argv)
    bits = {
        "codebook_bits": args.codebook_bits,
        "activation_bits": args.activation_bits,
        "accumulator_bits": args.accumulator_bits,
    }
    try:
        if args.samples < 1:
            raise ConfigError(f"--samples must be >= 1, got {args.samples}")
        if not args.dpz.is_file():
            raise ConfigError(f"{args.dpz} is not a file")
        manifest = export(args.dpz, args.out, args.layer, args.samples, bits)
    except (ConfigError, DpzFormatError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    for layer in manifest["layers"]:
        print(f"{layer['kind']:4s} {layer['name']} -> {args.out / layer['directory']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
