"""The SPOS search space (Guo et al. 2020; docs/methods/spos.md): a ShuffleNetV2 supernet of 20 choice
blocks (stage repeats 4-4-8-4, widths 64/160/320/640, last conv 1024; ``ShuffleNetSpace`` makes these
settings, e.g. the shallower digits space), each with four candidate ops
(ShuffleNetV2 units with 3x3, 5x5 and 7x7 depthwise kernels, and an Xception-like unit of three separable
3x3 convolutions) and eight mid-channel scales 0.2..1.6 for channel search.

One path is a choice index and a scale index per block (``Path``). The supernet holds every op at the
largest scale; a path slices the first channels of the weights and of the BN statistics (as NNI does), and
all its BNs are affine-free, as in the official supernet. ``ShuffleNetOneShot`` is the same network for one
fixed path with normal (affine) BN, for retraining from scratch.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

BLOCK_CHOICES = ("shuffle3x3", "shuffle5x5", "shuffle7x7", "xception")
CHANNEL_SCALES = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6)
DEFAULT_SCALE = CHANNEL_SCALES.index(1.0)


@dataclass(frozen=True)
class ShuffleNetSpace:
    """The shape of the supernet: choice blocks per stage, each stage's output width, the stem's and the last
    conv's widths. The defaults are the paper's; a small input (digits) may use a shallower space, because
    random paths through 20 blocks of affine-free BN barely train there (docs/methods/spos.md, diagnosis)."""

    stage_repeats: tuple[int, ...] = (4, 4, 8, 4)
    stage_widths: tuple[int, ...] = (64, 160, 320, 640)
    stem_width: int = 16
    last_width: int = 1024

    def __post_init__(self) -> None:
        if len(self.stage_repeats) != len(self.stage_widths) or not self.stage_repeats:
            raise ValueError("model.stage_repeats and model.stage_widths need one entry per stage")
        if min(self.stage_repeats) < 1:
            raise ValueError(f"every stage has at least one block, got model.stage_repeats={list(self.stage_repeats)}")
        widths = (self.stem_width, *self.stage_widths)
        if any(width < 4 or width % 2 for width in widths) or self.last_width < 1:
            raise ValueError("model.stem_width and model.stage_widths must be even and >= 4 (the channel split)")
        if any(wider <= narrower for narrower, wider in zip(widths, widths[1:], strict=False)):
            raise ValueError(
                "model.stage_widths must grow from model.stem_width stage by stage (a block's branch makes the "
                f"channels it adds), got stem {self.stem_width}, stages {list(self.stage_widths)}"
            )

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> ShuffleNetSpace:
        """The space of a model config (``model.stage_repeats`` ...); keys it does not set keep the paper's."""
        given = {name: settings[name] for name in ("stage_repeats", "stage_widths") if settings.get(name) is not None}
        given |= {name: settings[name] for name in ("stem_width", "last_width") if settings.get(name) is not None}
        return cls(
            **{name: tuple(value) if isinstance(value, Sequence) else int(value) for name, value in given.items()}
        )

    @property
    def num_blocks(self) -> int:
        return sum(self.stage_repeats)

    def layout(self, input_size: int) -> list[tuple[int, int, int]]:
        """(in channels, out channels, stride) of every choice block. Small inputs (CIFAR, digits) keep full
        resolution through the first stage instead of the ImageNet stem's extra downsampling."""
        layout = []
        in_channels = self.stem_width
        for stage, (repeats, width) in enumerate(zip(self.stage_repeats, self.stage_widths, strict=True)):
            for block in range(repeats):
                stride = 2 if block == 0 and (stage > 0 or input_size >= 64) else 1
                layout.append((in_channels, width, stride))
                in_channels = width
        return layout

    def check(self, path: Path) -> None:
        if len(path.blocks) != self.num_blocks:
            raise ValueError(
                f"the architecture has {len(path.blocks)} blocks, this space {self.num_blocks} "
                f"(model.stage_repeats={list(self.stage_repeats)})"
            )


@dataclass(frozen=True)
class Path:
    """One single path: per choice block, the op (index into BLOCK_CHOICES) and the mid-channel scale (index
    into CHANNEL_SCALES; block search keeps 1.0, the default when ``scales`` is left out)."""

    blocks: tuple[int, ...]
    scales: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.scales:
            object.__setattr__(self, "scales", (DEFAULT_SCALE,) * len(self.blocks))
        if len(self.blocks) != len(self.scales):
            raise ValueError(f"a path has a scale per block, got {len(self.blocks)} blocks, {len(self.scales)} scales")
        if not all(0 <= b < len(BLOCK_CHOICES) for b in self.blocks):
            raise ValueError(f"block choices are 0..{len(BLOCK_CHOICES) - 1}, got {self.blocks}")
        if not all(0 <= s < len(CHANNEL_SCALES) for s in self.scales):
            raise ValueError(f"channel scales are 0..{len(CHANNEL_SCALES) - 1}, got {self.scales}")

    @classmethod
    def sample(
        cls, rng: random.Random, num_blocks: int, search_channels: bool = False, search_blocks: bool = True
    ) -> Path:
        """A uniformly random path (what supernet training draws every step)."""
        blocks = tuple(rng.randrange(len(BLOCK_CHOICES)) if search_blocks else 0 for _ in range(num_blocks))
        scales = tuple(
            rng.randrange(len(CHANNEL_SCALES)) if search_channels else DEFAULT_SCALE for _ in range(num_blocks)
        )
        return cls(blocks, scales)

    def to_json(self) -> str:
        return json.dumps({"blocks": list(self.blocks), "scales": [CHANNEL_SCALES[s] for s in self.scales]})

    @classmethod
    def from_json(cls, text: str) -> Path:
        data = json.loads(text)
        scales = data.get("scales", [1.0] * len(data["blocks"]))  # block-search architectures may leave them out
        return cls(tuple(data["blocks"]), tuple(CHANNEL_SCALES.index(s) for s in scales))


def _channel_split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ShuffleNetV2's channel shuffle + split: even channels pass through, odd channels enter the branch."""
    return x[:, 0::2], x[:, 1::2]


class SlicedConvBN(nn.Module):
    """Conv (no bias) + BN whose leading channels can be sliced: ``forward(x, out_channels)`` uses the first
    ``out_channels`` filters (and, for a depthwise conv, as many groups) and the BN statistics of those
    channels; the input channels are whatever ``x`` has (the first ones of the weight)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, stride: int, depthwise: bool, affine: bool, relu: bool
    ) -> None:
        super().__init__()
        self.stride, self.padding, self.depthwise, self.relu = stride, kernel // 2, depthwise, relu
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel, stride, kernel // 2, groups=out_channels if depthwise else 1, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels, affine=affine)

    def forward(self, x: torch.Tensor, out_channels: int | None = None) -> torch.Tensor:
        out_channels = self.conv.out_channels if out_channels is None else out_channels
        if self.depthwise:
            weight, groups = self.conv.weight[:out_channels], out_channels
        else:
            weight, groups = self.conv.weight[:out_channels, : x.shape[1]], 1
        x = F.conv2d(x, weight, None, self.stride, self.padding, 1, groups)
        bn = self.bn
        use_batch_stats = bn.training or bn.running_mean is None
        momentum = bn.momentum
        if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
            if momentum is None:  # a cumulative average (BN recalibration), as nn.BatchNorm does it
                momentum = 1.0 / float(bn.num_batches_tracked)
        x = F.batch_norm(
            x,
            None if bn.running_mean is None else bn.running_mean[:out_channels],
            None if bn.running_var is None else bn.running_var[:out_channels],
            None if bn.weight is None else bn.weight[:out_channels],
            None if bn.bias is None else bn.bias[:out_channels],
            use_batch_stats,
            momentum if momentum is not None else 0.0,
            bn.eps,
        )
        return F.relu(x) if self.relu else x


class ChoiceOp(nn.Module):
    """One candidate op of a choice block at its largest mid width ``max_mid``: a ShuffleNetV2 unit with a
    ``kernel`` x ``kernel`` depthwise conv, or (``xception``) three separable 3x3 convs."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, kind: str, max_mid: int, affine: bool) -> None:
        super().__init__()
        self.stride = stride
        # stride 1: half the input passes through; stride 2: a projection branch downsamples all of it
        branch_in = in_channels // 2 if stride == 1 else in_channels
        branch_out = out_channels - (in_channels // 2 if stride == 1 else in_channels)
        kernel = 3 if kind == "xception" else int(kind[-1])
        if kind == "xception":
            layers = [
                SlicedConvBN(branch_in, branch_in, 3, stride, True, affine, False),
                SlicedConvBN(branch_in, max_mid, 1, 1, False, affine, True),
                SlicedConvBN(max_mid, max_mid, 3, 1, True, affine, False),
                SlicedConvBN(max_mid, max_mid, 1, 1, False, affine, True),
                SlicedConvBN(max_mid, max_mid, 3, 1, True, affine, False),
                SlicedConvBN(max_mid, branch_out, 1, 1, False, affine, True),
            ]
            self.mid_layers = (1, 2, 3, 4)  # the layers whose outputs are mid channels
        else:
            layers = [
                SlicedConvBN(branch_in, max_mid, 1, 1, False, affine, True),
                SlicedConvBN(max_mid, max_mid, kernel, stride, True, affine, False),
                SlicedConvBN(max_mid, branch_out, 1, 1, False, affine, True),
            ]
            self.mid_layers = (0, 1)
        self.branch = nn.ModuleList(layers)
        self.projection = (
            None
            if stride == 1
            else nn.ModuleList(
                [
                    SlicedConvBN(in_channels, in_channels, kernel, stride, True, affine, False),
                    SlicedConvBN(in_channels, in_channels, 1, 1, False, affine, True),
                ]
            )
        )

    def forward(self, x: torch.Tensor, mid: int) -> torch.Tensor:
        if self.projection is None:
            passed, x = _channel_split(x)
        else:
            passed = self.projection[1](self.projection[0](x))
        for index, layer in enumerate(self.branch):
            x = layer(x, mid if index in self.mid_layers else None)
        return torch.cat([passed, x], dim=1)


def mid_channels(out_channels: int, scale_index: int) -> int:
    """A block's mid width at a channel scale: the scale times half the block's output width."""
    return max(1, int(round(out_channels // 2 * CHANNEL_SCALES[scale_index])))


class _ShuffleNetBase(nn.Module):
    task = "classification"

    def _build_ends(self, in_channels: int, num_classes: int, input_size: int, affine: bool) -> None:
        space = self.space
        stem_stride = 2 if input_size >= 64 else 1
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, space.stem_width, 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(space.stem_width, affine=affine),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(
            nn.Conv2d(space.stage_widths[-1], space.last_width, 1, bias=False),
            nn.BatchNorm2d(space.last_width, affine=affine),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(space.last_width, num_classes)


class ShuffleNetSupernet(_ShuffleNetBase):
    """The supernet: every op of every choice block at the largest channel scale, affine-free BN. Call
    ``set_path`` (or pass ``path=``) before a forward; only the sampled path's weights get gradients."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        input_size: int,
        search_channels: bool = False,
        **space: Any,  # ShuffleNetSpace's settings (model.stage_repeats ...); the paper's when left out
    ) -> None:
        super().__init__()
        self.search_channels = search_channels
        self.space = ShuffleNetSpace.of(space)
        self.layout = self.space.layout(input_size)
        largest = len(CHANNEL_SCALES) - 1 if search_channels else DEFAULT_SCALE
        self._build_ends(in_channels, num_classes, input_size, affine=False)
        self.blocks = nn.ModuleList(
            nn.ModuleList(
                ChoiceOp(cin, cout, stride, kind, mid_channels(cout, largest), affine=False) for kind in BLOCK_CHOICES
            )
            for cin, cout, stride in self.layout
        )
        self.path = Path((0,) * self.space.num_blocks)
        self._compiled_ops: list[list[nn.Module]] | None = None  # a plain list: not registered, not saved

    def compile_ops(self) -> None:
        """Compile every candidate op on its own (``torch.compile``, static shapes) for training: a sampled
        path is then a chain of compiled ops, so no path ever recompiles (the ops of one shape share a graph:
        32 in the block space), and each op's BN/ReLU/split/concat memory traffic is fused. Evaluation
        (``eval()``, BN recalibration in the search) keeps the plain ops."""
        ops_count = sum(len(ops) for ops in self.blocks)
        # one code object (ChoiceOp.forward) serves every op: allow a graph per op rather than the default 8
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, ops_count)
        self._compiled_ops = [[torch.compile(op, dynamic=False) for op in ops] for ops in self.blocks]

    def set_path(self, path: Path) -> None:
        self.space.check(path)
        if not self.search_channels and any(s != DEFAULT_SCALE for s in path.scales):
            raise ValueError("this supernet was built without channel search: scales must all be 1.0")
        self.path = path

    def forward(self, x: torch.Tensor, path: Path | None = None) -> torch.Tensor:
        path = self.path if path is None else path
        blocks = self._compiled_ops if self.training and self._compiled_ops is not None else self.blocks
        x = self.stem(x)
        for ops, (_, cout, _), choice, scale in zip(blocks, self.layout, path.blocks, path.scales, strict=True):
            x = ops[choice](x, mid_channels(cout, scale))
        return self.classifier(self.head(x))


def resolve_path(path: str | Path) -> Path:
    """A Path, JSON text or a JSON file (as the search writes them)."""
    if isinstance(path, Path):
        return path
    text = path
    if not path.lstrip().startswith("{"):
        try:
            text = open(path).read()  # noqa: SIM115 - a short read
        except OSError as error:
            raise ValueError(f"cannot read the architecture file {path}: {error.strerror}") from None
    try:
        return Path.from_json(text)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f'not an architecture ({{"blocks": [...], "scales": [...]}}): {error}') from None


class ShuffleNetOneShot(_ShuffleNetBase):
    """The network of one path, with normal BN, trained from scratch after the search."""

    def __init__(
        self, in_channels: int, num_classes: int, input_size: int, path: str | Path | None = None, **space: Any
    ) -> None:
        super().__init__()
        self.space = ShuffleNetSpace.of(space)
        # no path: every block shuffle3x3 at scale 1.0
        self.path = resolve_path(path) if path is not None else Path((0,) * self.space.num_blocks)
        self.space.check(self.path)
        self.layout = self.space.layout(input_size)
        self._build_ends(in_channels, num_classes, input_size, affine=True)
        self.blocks = nn.ModuleList(
            ChoiceOp(cin, cout, stride, BLOCK_CHOICES[choice], mid_channels(cout, scale), affine=True)
            for (cin, cout, stride), choice, scale in zip(self.layout, self.path.blocks, self.path.scales, strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for op, (_, cout, _), scale in zip(self.blocks, self.layout, self.path.scales, strict=True):
            x = op(x, mid_channels(cout, scale))
        return self.classifier(self.head(x))
