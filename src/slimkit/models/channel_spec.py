"""Channel-prunable network descriptions (MobileNetV1, MobileNetV2, a CIFAR-size ResNet), shared by the plain
networks of any widths (``slimkit.models.channel_net``), MetaPruning's PruningNet and the exact FLOPs count.

A network is a list of convolutions (``ConvSpec``) grouped into blocks (``BlockSpec``: a chain of convs plus an
optional shortcut). Every prunable width belongs to a gene; an encoding is one ratio per gene. ``layer_widths``
is the one decoder from an encoding to every layer's channel counts: the search, the PruningNet, the FLOPs
count and the materialised network all call it, so they cannot disagree (the official MobileNetV1 evaluation
script read the encoding shifted by one layer, docs/methods/metapruning.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Activation = Literal["relu", "relu6"] | None


@dataclass(frozen=True)
class ConvSpec:
    """One conv + BN (+ activation) at its widest: ``in_base`` -> ``out_base`` channels. ``in_gene`` and
    ``out_gene`` index the genes that scale the two widths (None: never pruned, e.g. the image channels); a
    depthwise conv has one width, so both genes are the same."""

    in_base: int
    out_base: int
    kernel: int
    stride: int
    in_size: int  # input height = width
    in_gene: int | None
    out_gene: int | None
    depthwise: bool = False
    activation: Activation = "relu"
    # the PruningNet's BNs of this conv: one per ratio of its output gene (by default), of its input gene
    # (``norm_by_input``: the official MobileNetV2's last conv, whose 1280 outputs are never pruned), with a
    # learnt scale and shift per ratio (``affine_norm``: the official MobileNetV1's stem and depthwise BNs)
    norm_by_input: bool = False
    affine_norm: bool = False

    @property
    def norm_gene(self) -> int | None:
        """The gene whose ratio picks this conv's BN in a PruningNet (None: one BN)."""
        return self.in_gene if self.norm_by_input else self.out_gene

    @property
    def out_size(self) -> int:
        return (self.in_size + 2 * (self.kernel // 2) - self.kernel) // self.stride + 1


@dataclass(frozen=True)
class BlockSpec:
    """Convs ``convs`` (indices into NetSpec.convs) in sequence; ``shortcut``: none, identity, or the index of a
    projection conv applied to the block's input; ``activation`` after the addition (ResNet's ReLU).

    For MetaPruning's PruningNet, as the official code builds it: every generator of the block (one per conv,
    the shortcut's too) reads the block's ``code``, the ratios of these genes (None: the ratio 1 of an unpruned
    width), through a hidden layer of ``generator_hidden`` units."""

    convs: tuple[int, ...]
    shortcut: Literal["none", "identity"] | int = "none"
    activation: Activation = None
    code: tuple[int | None, ...] = ()
    generator_hidden: int = 32


@dataclass(frozen=True)
class NetSpec:
    name: str
    in_channels: int
    num_classes: int
    convs: tuple[ConvSpec, ...]
    blocks: tuple[BlockSpec, ...]
    genes: tuple[str, ...]
    features_base: int  # the classifier's input width at its widest
    features_gene: int | None

    def full_encoding(self) -> tuple[float, ...]:
        return (1.0,) * len(self.genes)


def channels(base: int, ratio: float) -> int:
    """A pruned width: ``int(base * ratio)`` as the official code (at least 1; the epsilon keeps 0.29 * 100
    from flooring to 28)."""
    return max(1, int(base * ratio + 1e-6))


def layer_widths(spec: NetSpec, encoding: Sequence[float]) -> tuple[list[tuple[int, int]], int]:
    """Every conv's (in, out) channels and the classifier's input width for ``encoding`` (a ratio per gene)."""
    if len(encoding) != len(spec.genes):
        raise ValueError(f"{spec.name} has {len(spec.genes)} genes, got an encoding of {len(encoding)}")
    if not all(0.0 < ratio <= 1.0 for ratio in encoding):
        raise ValueError(f"channel ratios must be in (0, 1], got {list(encoding)}")

    def width(base: int, gene: int | None) -> int:
        return base if gene is None else channels(base, encoding[gene])

    widths = [(width(conv.in_base, conv.in_gene), width(conv.out_base, conv.out_gene)) for conv in spec.convs]
    return widths, width(spec.features_base, spec.features_gene)


def conv_flops(conv: ConvSpec, in_width: int, out_width: int) -> int:
    """FLOPs as ``torch.utils.flop_counter`` counts them: 2 per multiply-accumulate, convs and linears only."""
    per_output = conv.kernel * conv.kernel * (1 if conv.depthwise else in_width)
    return 2 * out_width * per_output * conv.out_size * conv.out_size


def network_flops(spec: NetSpec, encoding: Sequence[float]) -> int:
    widths, features = layer_widths(spec, encoding)
    convs = sum(conv_flops(conv, cin, cout) for conv, (cin, cout) in zip(spec.convs, widths, strict=True))
    return convs + 2 * features * spec.num_classes


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's channel rounding for width multipliers: nearest multiple, never 10% below ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class _Builder:
    """Appends convs and blocks while tracking the spatial size along the main chain."""

    def __init__(self, input_size: int) -> None:
        self.size = input_size
        self.convs: list[ConvSpec] = []
        self.blocks: list[BlockSpec] = []

    def conv(
        self, cin: int, cout: int, kernel: int, stride: int, genes: tuple, size: int | None = None, **options: object
    ) -> int:
        """A conv on the main chain (the running size moves on), or on a side input of ``size`` (a shortcut)."""
        conv = ConvSpec(cin, cout, kernel, stride, self.size if size is None else size, genes[0], genes[1], **options)
        self.convs.append(conv)
        if size is None:
            self.size = conv.out_size
        return len(self.convs) - 1

    def block(self, convs: list[int], code: tuple[int | None, ...] | None = None, **options: object) -> None:
        """A block of ``convs``; its generators' ``code`` defaults to the official order: the genes of the
        widths inside the block, then of its input, then of its output (unpruned widths left out)."""
        if code is None:
            first, last = self.convs[convs[0]], self.convs[convs[-1]]
            inside = (self.convs[index].out_gene for index in convs[:-1])
            mids = dict.fromkeys(gene for gene in inside if gene not in (None, first.in_gene))
            code = (*mids, *(gene for gene in (first.in_gene, last.out_gene) if gene is not None))
        self.blocks.append(BlockSpec(tuple(convs), code=code, **options))

    def spec(
        self, name: str, channels: int, classes: int, genes: list[str], features: int, gene: int | None
    ) -> NetSpec:
        """The network built so far; ``features`` (gene ``gene``) is the classifier's input width."""
        return NetSpec(name, channels, classes, tuple(self.convs), tuple(self.blocks), tuple(genes), features, gene)


def _small(input_size: int) -> bool:
    """CIFAR/digits-size inputs skip the ImageNet stem's downsampling (stride 1 where ImageNet has 2)."""
    return input_size < 64


MOBILENET_V1_LAYERS = (
    ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2))
    + ((512, 1),) * 5
    + (
        (1024, 2),
        (1024, 1),
    )
)


def mobilenet_v1_spec(in_channels: int, num_classes: int, input_size: int, width_mult: float = 1.0) -> NetSpec:
    """MobileNetV1 (Howard et al. 2017): a 3x3 stem and 13 depthwise-separable layers, pruned as the official
    MetaPruning PruningNet prunes it: one gene per layer output (stem + 12 layers), each depthwise conv keeping
    its input's width, the last layer's 1024 outputs unpruned; a layer's two generators read (input ratio,
    output ratio); the stem's and the depthwise convs' PruningNet BNs are affine."""
    build = _Builder(input_size)
    stem = make_divisible(32 * width_mult)
    stride = 1 if _small(input_size) else 2
    build.block([build.conv(in_channels, stem, 3, stride, (None, 0), affine_norm=True)])
    previous, genes = stem, ["stem"]
    for layer, (width, stride) in enumerate(MOBILENET_V1_LAYERS, 1):
        last = layer == len(MOBILENET_V1_LAYERS)
        out, in_gene, gene = make_divisible(width * width_mult), len(genes) - 1, None if last else len(genes)
        depthwise = build.conv(previous, previous, 3, stride, (in_gene, in_gene), depthwise=True, affine_norm=True)
        build.block([depthwise, build.conv(previous, out, 1, 1, (in_gene, gene))], code=(in_gene, gene))
        if not last:
            genes.append(f"layer{layer}")
        previous = out
    return build.spec("mobilenet_v1", in_channels, num_classes, genes, previous, None)


# per stage: expansion, width (Sandler et al.'s, before the width multiplier), blocks, stride
MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2))
MOBILENET_V2_STAGES += ((6, 320, 1, 1),)
# the official MetaPruning PruningNet's stem and stage widths: 1.4x the paper's, rounded by its own table (88
# where 1.4 x 64 is 89.6), not to multiples of 8
METAPRUNING_V2_WIDTHS = (44, 22, 33, 44, 88, 132, 224, 448)
MobileNetV2Layout = Literal["metapruning", "torchvision"]


def mobilenet_v2_widths(layout: MobileNetV2Layout, width_mult: float) -> list[int]:
    """Stem + 7 stage widths: ``metapruning`` the official PruningNet's table (x ``width_mult``, rounded down),
    ``torchvision`` the paper's widths x ``width_mult`` rounded to multiples of 8."""
    if layout == "metapruning":
        return [max(1, int(width * width_mult + 1e-6)) for width in METAPRUNING_V2_WIDTHS]
    if layout == "torchvision":
        return [make_divisible(width * width_mult) for width in (32, *(stage[1] for stage in MOBILENET_V2_STAGES))]
    raise ValueError(f"a MobileNetV2 layout is metapruning or torchvision, got {layout!r}")


def mobilenet_v2_spec(
    in_channels: int,
    num_classes: int,
    input_size: int,
    width_mult: float = 1.0,
    last_width: int = 1280,
    layout: MobileNetV2Layout = "metapruning",
) -> NetSpec:
    """MobileNetV2 (Sandler et al. 2018) as the MetaPruning PruningNet prunes it: one output gene per stage
    (stem + 7 stages: a stage's blocks share their output width, which the residuals need) and one mid gene per
    block; the last 1x1 conv (``last_width``, 1280 as the official PruningNet) is not pruned and its PruningNet
    BN is picked by its input ratio. ``layout`` (``mobilenet_v2_widths``): ``metapruning``, the official
    PruningNet's network, gives the first block (expansion 1) an expansion conv with a mid gene of its own;
    ``torchvision``, the paper's, has none there. Every block's generators read (mid, input, output) ratios
    through 64 hidden units; the stem's and the last conv's read their one pruned width through 32."""
    widths = mobilenet_v2_widths(layout, width_mult)
    build = _Builder(input_size)
    stride = 1 if _small(input_size) else 2
    build.block([build.conv(in_channels, widths[0], 3, stride, (None, 0), activation="relu6")])
    genes = ["stem"]
    previous, previous_gene = widths[0], 0
    for stage, ((expansion, _, repeats, stride), out) in enumerate(
        zip(MOBILENET_V2_STAGES, widths[1:], strict=True), 1
    ):
        out_gene = len(genes)
        genes.append(f"stage{stage}")
        if stage == 2 and _small(input_size):
            stride = 1  # CIFAR-size MobileNetV2: keep resolution where ImageNet's second downsampling is
        for repeat in range(repeats):
            block_stride = stride if repeat == 0 else 1
            convs = []
            if expansion == 1 and layout == "torchvision":
                mid, mid_gene = previous, previous_gene
            else:
                mid, mid_gene = previous * expansion, len(genes)
                genes.append(f"stage{stage}_block{repeat + 1}_mid")
                convs.append(build.conv(previous, mid, 1, 1, (previous_gene, mid_gene), activation="relu6"))
            convs.append(
                build.conv(mid, mid, 3, block_stride, (mid_gene, mid_gene), depthwise=True, activation="relu6")
            )
            convs.append(build.conv(mid, out, 1, 1, (mid_gene, out_gene), activation=None))
            residual = block_stride == 1 and previous == out and previous_gene == out_gene
            build.block(convs, shortcut="identity" if residual else "none", generator_hidden=64)
            previous, previous_gene = out, out_gene
    build.block([build.conv(previous, last_width, 1, 1, (previous_gene, None), activation="relu6", norm_by_input=True)])
    return build.spec("mobilenet_v2", in_channels, num_classes, genes, last_width, None)


def resnet_spec(in_channels: int, num_classes: int, input_size: int, depth: int = 20, base_width: int = 16) -> NetSpec:
    """A CIFAR-size ResNet-(6n+2) made for channel pruning: 3 stages of n basic blocks, widths 16/32/64 x
    ``base_width / 16``, and 1x1 projection shortcuts where the stage changes (zero-padding shortcuts cannot
    follow a pruned stage narrower than the one before). Genes: one output width per stage (the stem shares
    stage 1's, its identity shortcuts need it) and one mid width per block (its first conv's output)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"ResNet depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}")
    repeats = (depth - 2) // 6
    build = _Builder(input_size)
    widths = [base_width, 2 * base_width, 4 * base_width]
    genes = ["stage1", "stage2", "stage3"]
    build.block([build.conv(in_channels, widths[0], 3, 1, (None, 0))])
    previous, previous_gene = widths[0], 0
    for stage, width in enumerate(widths):
        for repeat in range(repeats):
            stride = 2 if stage > 0 and repeat == 0 else 1
            mid_gene = len(genes)
            genes.append(f"stage{stage + 1}_block{repeat + 1}_mid")
            block_input = build.size
            first = build.conv(previous, width, 3, stride, (previous_gene, mid_gene))
            second = build.conv(width, width, 3, 1, (mid_gene, stage), activation=None)
            shortcut: Literal["identity"] | int = "identity"
            if stride != 1 or previous_gene != stage:
                shortcut = build.conv(
                    previous, width, 1, stride, (previous_gene, stage), size=block_input, activation=None
                )
            build.block([first, second], shortcut=shortcut, activation="relu")
            previous, previous_gene = width, stage
    return build.spec(f"resnet{depth}", in_channels, num_classes, genes, previous, previous_gene)
