"""Meta-Upscale (Hu et al. 2019, "Meta-SR"): upscale a feature map by any factor r > 1.

Output pixel (i, j) of a floor(r*h) x floor(r*w) image reads the 3x3xC feature patch at LR pixel
(floor(i/r), floor(j/r)) and multiplies it by a weight matrix (9C x 3) that an MLP predicts from the position
[1/r, i/r - floor(i/r), j/r - floor(j/r)]. Rows and columns are handled separately (the official master branch
swapped H and W when it tiled its weights, which broke every non-square image).

The official code materialises one predicted matrix per output pixel (16.4 GiB at LR 256x256 x4). Here the
weights depend only on the (row offset, column offset) pair, and there are few distinct offsets for any
rational scale (r = p/q has at most p per axis), so the MLP runs once per distinct pair; the product is
applied one row offset at a time and in bounded chunks of output rows, so peak memory no longer grows with
output pixels x weights. ``meta_upscale_per_pixel`` is the direct per-pixel form, kept as the reference
(tests) and the baseline (benchmarks/metasr_memory.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from slimkit.sr.imresize import output_size

OFFSET_DECIMALS = 6  # offsets equal to 1e-6 share one predicted weight (float noise of i / r)
CHUNK_ELEMENTS = 1 << 25  # gathered patch elements per chunk of output rows (128 MiB in float32)
CONV_WASTE_LIMIT = 12  # row-offset convs while they cost at most this many times the direct MACs


def positions(size: int, scale: float, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """For output indices start..start+size-1 along one axis (CPU tensors): the LR index floor(i / r) and the
    offset i / r - floor(i / r), in float64."""
    source = torch.arange(start, start + size, dtype=torch.float64, device="cpu") / scale
    lr_index = torch.floor(source + 1e-9)
    offset = (source - lr_index).clamp_min(0.0)
    return lr_index.long(), offset


def position_dtype(features: torch.Tensor) -> torch.dtype:
    """Positions stay at least float32 (bf16 would round an offset of 0.4 to 0.3984)."""
    return torch.promote_types(features.dtype, torch.float32)


def unfold_patches(features: torch.Tensor) -> torch.Tensor:
    """[B, C, h, w] -> [B, 9C, h, w]: each LR pixel's 3x3 neighbourhood (zero padded), channel-major."""
    batch, channels, height, width = features.shape
    return F.unfold(features, 3, padding=1).view(batch, channels * 9, height, width)


class WeightPredictor(nn.Module):
    """Linear(3, hidden) -> ReLU -> Linear(hidden, 9 * C * out): a (9C x out) matrix per position."""

    def __init__(self, channels: int, out_channels: int = 3, hidden: int = 256) -> None:
        super().__init__()
        self.channels, self.out_channels = channels, out_channels
        self.net = nn.Sequential(
            nn.Linear(3, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 9 * channels * out_channels)
        )

    def forward(self, position: torch.Tensor) -> torch.Tensor:
        """[N, 3] positions -> [N, 9C, out]."""
        return self.net(position).view(-1, 9 * self.channels, self.out_channels)


class MetaUpscale(nn.Module):
    """``forward(features, scale)``: [B, C, h, w] -> [B, out, floor(r h), floor(r w)] for any r > 0."""

    def __init__(self, channels: int, out_channels: int = 3, hidden: int = 256, chunk_elements: int = CHUNK_ELEMENTS):
        super().__init__()
        self.predict = WeightPredictor(channels, out_channels, hidden)
        self.predict_shape = (9 * channels, out_channels)
        self.chunk_elements = chunk_elements
        self.conv_waste_limit = CONV_WASTE_LIMIT  # 0: always the gathered-patch path

    def forward(
        self,
        features: torch.Tensor,
        scale: float,
        window: tuple[int, int, int, int] | None = None,
        feature_origin: tuple[int, int] = (0, 0),
    ) -> torch.Tensor:
        """The whole output, or (tiling) only ``window`` = (first row, first column, rows, columns) of the
        whole image's output from ``features`` of an LR crop whose top-left pixel is ``feature_origin``."""
        batch, _, height, width = features.shape
        device = features.device
        if window is None:
            window = (0, 0, output_size(height, scale), output_size(width, scale))
        # index bookkeeping on the CPU (no device syncs; also works on the meta device)
        rows, dy = positions(window[2], scale, window[0])
        cols, dx = positions(window[3], scale, window[1])
        rows, cols = rows - feature_origin[0], cols - feature_origin[1]
        if rows.min() < 0 or cols.min() < 0 or rows.max() >= height or cols.max() >= width:
            raise ValueError("the output window reads LR pixels outside the features given")
        row_offsets, row_class = torch.unique(dy.round(decimals=OFFSET_DECIMALS), return_inverse=True)
        col_offsets, col_class = torch.unique(dx.round(decimals=OFFSET_DECIMALS), return_inverse=True)
        # one prediction per distinct (row offset, column offset) pair: [n_rows, n_cols, 9C, out]
        grid = torch.stack(torch.meshgrid(row_offsets, col_offsets, indexing="ij"), dim=-1).flatten(0, 1)
        inverse_scale = torch.full((len(grid), 1), 1.0 / scale, dtype=grid.dtype, device="cpu")
        position = torch.cat([inverse_scale, grid], dim=1)
        weights = self.predict(position.to(device, position_dtype(features)))
        weights = weights.view(len(row_offsets), len(col_offsets), *self.predict_shape)
        if len(col_offsets) <= self.conv_waste_limit * scale:
            return self._by_row_class_conv(features, weights, rows, row_class, cols, col_class)
        patches = unfold_patches(features)  # [B, 9C, h, w]
        output = features.new_empty(batch, self.predict_shape[1], len(rows), len(cols))
        rows_per_chunk = max(1, self.chunk_elements // max(1, batch * patches.shape[1] * len(cols)))
        cols_on_device = cols.to(device)
        for klass in range(len(row_offsets)):
            out_rows = torch.nonzero(row_class == klass).flatten()
            # each output column's matrix for this row offset: [W, 9C, out] (per column, not per pixel)
            column_weights = weights[klass][col_class.to(device)]
            for start in range(0, len(out_rows), rows_per_chunk):
                chunk = out_rows[start : start + rows_per_chunk]
                gathered = patches[:, :, rows[chunk].to(device)][:, :, :, cols_on_device]  # [B, 9C, R, W]
                output[:, :, chunk.to(device)] = torch.einsum("bkrw,wko->borw", gathered, column_weights)
        return output

    def _by_row_class_conv(
        self,
        features: torch.Tensor,
        weights: torch.Tensor,
        rows: torch.Tensor,
        row_class: torch.Tensor,
        cols: torch.Tensor,
        col_class: torch.Tensor,
    ) -> torch.Tensor:
        """Per row offset: one 3x3 conv with every column offset's matrix stacked as output channels, evaluated
        only at the LR rows that offset reads (each such row's 3-row band stacked, stride 3), then each output
        column picks its offset's channels at its LR column. n_cols / r times the direct MACs (1 at integer
        scales), no per-pixel patches: memory stays at LR size x n_cols."""
        batch, channels, _, _ = features.shape
        device = features.device
        n_cols, out = weights.shape[1], self.predict_shape[1]
        padded = F.pad(features, (1, 1, 1, 1))
        output = features.new_empty(batch, out, len(rows), len(cols))
        col_class_device, cols_device = col_class.to(device), cols.to(device)
        for klass in range(weights.shape[0]):
            out_rows = torch.nonzero(row_class == klass).flatten()
            bands = (
                (rows[out_rows][:, None] + torch.arange(3, device="cpu")).flatten().to(device)
            )  # 3 padded rows per LR row
            kernel = weights[klass].permute(0, 2, 1).reshape(n_cols * out, channels, 3, 3)
            per_offset = F.conv2d(padded[:, :, bands], kernel, stride=(3, 1))  # [B, n_cols * out, R, w]
            per_offset = per_offset.view(batch, n_cols, out, len(out_rows), -1)
            picked = per_offset[:, col_class_device, :, :, cols_device]  # [W, B, out, R]
            output[:, :, out_rows.to(device)] = picked.permute(1, 2, 3, 0)
        return output


def meta_upscale_per_pixel(features: torch.Tensor, scale: float, predict: WeightPredictor) -> torch.Tensor:
    """The official algorithm, directly: a predicted (9C x out) matrix and a 9C patch for every output pixel,
    then one product per pixel. Memory grows with output pixels x 9C x out."""
    batch, _, height, width = features.shape
    device = features.device
    rows, dy = positions(output_size(height, scale), scale)
    cols, dx = positions(output_size(width, scale), scale)
    out_h, out_w = len(rows), len(cols)
    position = torch.stack(
        [
            torch.full((out_h, out_w), 1.0 / scale, dtype=dy.dtype, device="cpu"),
            dy[:, None].expand(out_h, out_w),
            dx[None, :].expand(out_h, out_w),
        ],
        dim=-1,
    ).reshape(-1, 3)
    weights = predict(position.to(device, position_dtype(features)))  # [H*W, 9C, out]
    patches = unfold_patches(features)[:, :, rows.to(device)][:, :, :, cols.to(device)].flatten(2)  # [B, 9C, H*W]
    output = torch.einsum("bkp,pko->bop", patches, weights)
    return output.view(batch, -1, out_h, out_w)
