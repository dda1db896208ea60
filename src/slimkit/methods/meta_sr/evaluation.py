"""The standard SR evaluation of a Meta-SR model at a list of scales, bicubic in the same table: for every HR
image the protocol crop (the LR size floor(H / r), the HR cropped to floor(r * h)), LR by MATLAB-compatible
bicubic, PSNR and SSIM on the Y channel with a border shave of ceil(r) (docs/methods/meta_sr.md). Writes a
markdown and a CSV table, a PSNR-vs-scale plot and a visual comparison strip (bicubic | Meta-SR | HR)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import torch
from PIL import Image

from slimkit.data.sr import load_hr_image
from slimkit.models.meta_sr import MetaSR
from slimkit.sr.imresize import crop_to_scale, imresize
from slimkit.sr.metrics import psnr_y, ssim_y

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend


@dataclass
class Row:
    dataset: str
    scale: float
    method: str
    psnr: float
    ssim: float


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """[3, H, W] in [0, 1] -> HxWx3 uint8, rounded as a saved PNG would be."""
    return (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


@torch.no_grad()
def super_resolve(model: MetaSR, lr: np.ndarray, scale: float) -> np.ndarray:
    """HxWx3 uint8 LR -> uint8 SR of floor(r h) x floor(r w) (one forward pass)."""
    device = next(model.parameters()).device
    inputs = torch.from_numpy(lr).permute(2, 0, 1).float().div(255).unsqueeze(0).to(device)
    return to_uint8(model.eval()(inputs, scale)[0])


def score(sr: np.ndarray, hr: np.ndarray, gray: bool, scale: float) -> tuple[float, float]:
    shave = math.ceil(scale)
    if gray:
        sr, hr = sr[..., 0], hr[..., 0]
    return psnr_y(sr, hr, shave), ssim_y(sr, hr, shave)


def evaluate_folder(
    model: MetaSR, name: str, images: Sequence[Path], scales: Sequence[float]
) -> tuple[list[Row], dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Rows of mean PSNR/SSIM per scale for Meta-SR and bicubic; the first image's (bicubic, SR, HR) per
    scale for the comparison strip."""
    rows, examples = [], {}
    for scale in scales:
        totals = {"meta_sr": [0.0, 0.0], "bicubic": [0.0, 0.0]}
        for index, path in enumerate(images):
            hr, gray = load_hr_image(path)  # a grayscale file is scored on its one channel
            hr, lr_size = crop_to_scale(hr, scale)
            lr = imresize(hr, lr_size)
            outputs = {"meta_sr": super_resolve(model, lr, scale), "bicubic": imresize(lr, hr.shape[:2])}
            for method, output in outputs.items():
                psnr, ssim = score(output, hr, gray, scale)
                totals[method][0] += psnr
                totals[method][1] += ssim
            if index == 0:
                examples[scale] = (outputs["bicubic"], outputs["meta_sr"], hr)
        for method, (psnr, ssim) in totals.items():
            rows.append(Row(name, scale, method, psnr / len(images), ssim / len(images)))
    return rows, examples


def write_tables(rows: list[Row], folder: Path) -> None:
    with open(folder / "results.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "scale", "method", "psnr_y", "ssim_y"])
        for row in rows:
            writer.writerow([row.dataset, row.scale, row.method, f"{row.psnr:.4f}", f"{row.ssim:.5f}"])
    scales = sorted({row.scale for row in rows})
    lines = ["| dataset | method | " + " | ".join(f"x{scale:g}" for scale in scales) + " |"]
    lines.append("|---|---|" + "---|" * len(scales))
    for dataset in dict.fromkeys(row.dataset for row in rows):
        for method in ("bicubic", "meta_sr"):
            cells = {row.scale: row for row in rows if row.dataset == dataset and row.method == method}
            values = " | ".join(f"{cells[scale].psnr:.2f} / {cells[scale].ssim:.4f}" for scale in scales)
            lines.append(f"| {dataset} | {method} | {values} |")
    (folder / "results.md").write_text("PSNR (dB) / SSIM on Y\n\n" + "\n".join(lines) + "\n")


def plot_psnr(rows: list[Row], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(6, 4))
    for dataset in dict.fromkeys(row.dataset for row in rows):
        for method, style in (("meta_sr", "-o"), ("bicubic", "--s")):
            points = sorted((row.scale, row.psnr) for row in rows if row.dataset == dataset and row.method == method)
            axes.plot(*zip(*points, strict=True), style, label=f"{dataset} {method}")
    axes.set_xlabel("scale")
    axes.set_ylabel("PSNR on Y (dB)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def comparison_strip(bicubic: np.ndarray, sr: np.ndarray, hr: np.ndarray, path: Path, crop: int = 96) -> None:
    """The same centre crop of bicubic, Meta-SR and HR side by side, 2 px apart."""
    top, left = max(0, (hr.shape[0] - crop) // 2), max(0, (hr.shape[1] - crop) // 2)
    crops = [image[top : top + crop, left : left + crop] for image in (bicubic, sr, hr)]
    gap = np.full((crops[0].shape[0], 2, 3), 255, dtype=np.uint8)
    Image.fromarray(np.concatenate([crops[0], gap, crops[1], gap, crops[2]], axis=1)).save(path)
