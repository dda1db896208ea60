"""Upscale any image by any factor with a trained Meta-SR run:

    slimkit-upscale in.png --scale 2.7 --ckpt <run>/checkpoints/last.ckpt -o out.png
    python -m slimkit.methods.meta_sr.upscale ...   (the same)

The model is rebuilt from the run's recorded config (<run>/.hydra/config.yaml) and the checkpoint's weights.
The output is floor(r H) x floor(r W). Big images go through in LR tiles (``--tile``, with ``--margin`` pixels of
context on every side so the backbone sees past the tile's edges); each tile's features produce exactly the
output pixels whose LR pixel lies in the tile, at the positions the whole image would give them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from slimkit.cli import EXIT_USER_ERROR
from slimkit.data.sr import load_hr_image
from slimkit.models.meta_sr import MetaSR
from slimkit.models.meta_upscale import positions
from slimkit.sr.imresize import output_size


def load_model(checkpoint: Path) -> MetaSR:
    """The run's model (from <run>/.hydra/config.yaml) with the checkpoint's weights."""
    config_file = checkpoint.resolve().parent.parent / ".hydra" / "config.yaml"
    if not config_file.is_file():
        raise ValueError(f"no run config at {config_file}: --ckpt must be <run>/checkpoints/<name>.ckpt")
    model = instantiate(OmegaConf.load(config_file).model, in_channels=3)
    if not isinstance(model, MetaSR):
        raise ValueError(f"the run at {checkpoint.parent.parent} did not train a Meta-SR model (method=meta_sr)")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    weights = {key.removeprefix("model."): value for key, value in state.get("state_dict", state).items()}
    model.load_state_dict(weights)
    return model.eval()


def output_range(lr_start: int, lr_stop: int, size: int, scale: float) -> tuple[int, int]:
    """The output indices whose LR index floor(i / r) lies in [lr_start, lr_stop)."""
    lr_index, _ = positions(output_size(size, scale), scale)
    inside = torch.nonzero((lr_index >= lr_start) & (lr_index < lr_stop)).flatten()
    return int(inside[0]), int(inside[-1]) + 1


@torch.no_grad()
def upscale(model: MetaSR, image: torch.Tensor, scale: float, tile: int = 256, margin: int = 16) -> torch.Tensor:
    """[B, 3, h, w] in [0, 1] -> [B, 3, floor(r h), floor(r w)], tile by tile."""
    batch, _, height, width = image.shape
    output = image.new_empty(batch, 3, output_size(height, scale), output_size(width, scale))
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(height, top + tile), min(width, left + tile)
            crop_top, crop_left = max(0, top - margin), max(0, left - margin)
            crop = image[:, :, crop_top : min(height, bottom + margin), crop_left : min(width, right + margin)]
            features = model.backbone(crop - model.mean)
            row0, row1 = output_range(top, bottom, height, scale)
            col0, col1 = output_range(left, right, width, scale)
            window = (row0, col0, row1 - row0, col1 - col0)
            part = model.upscale(features, scale, window, (crop_top, crop_left)) + model.mean
            output[:, :, row0:row1, col0:col1] = part
    return output.clamp(0, 1)


def main(argv: list[str] | None = None) -> int:
    """The ``slimkit-upscale`` command; its exit status (2: a user error, said in one line)."""
    parser = argparse.ArgumentParser(
        prog="slimkit-upscale", description="Upscale an image by any factor with a trained Meta-SR run."
    )
    parser.add_argument("image", type=Path)
    parser.add_argument("--scale", type=float, required=True, help="any factor > 1, e.g. 2.7")
    parser.add_argument("--ckpt", type=Path, required=True, help="<run>/checkpoints/last.ckpt (or best.ckpt)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--tile", type=int, default=256, help="LR tile side (memory), default 256")
    parser.add_argument("--margin", type=int, default=16, help="LR context pixels around each tile, default 16")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    try:
        if args.scale <= 1:
            raise ValueError(f"--scale must be > 1, got {args.scale}")
        if args.tile < 1 or args.margin < 1:
            raise ValueError("--tile and --margin must be >= 1")
        if not args.image.is_file():
            raise ValueError(f"no image at {args.image}")
        if not args.ckpt.is_file():
            raise ValueError(f"no checkpoint at {args.ckpt}")
        pixels, gray = load_hr_image(args.image)
        pixels = pixels.copy()  # writable: torch.from_numpy wants one
        model = load_model(args.ckpt).to(args.device)
        inputs = torch.from_numpy(pixels).permute(2, 0, 1).float().div(255).unsqueeze(0).to(args.device)
        result = upscale(model, inputs, args.scale, args.tile, args.margin)[0]
        array = (result * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        args.output.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).convert("L" if gray else "RGB").save(args.output)
    except (ValueError, OSError, RuntimeError) as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return EXIT_USER_ERROR
    print(f"{args.image} {pixels.shape[1]}x{pixels.shape[0]} -> {args.output} {array.shape[1]}x{array.shape[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
