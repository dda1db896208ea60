"""MetaPruning's PruningNet (Liu et al. 2019; docs/methods/metapruning.md): every conv's weight is generated from
the network encoding by a small MLP, Linear(code -> hidden) -> ReLU -> Linear(hidden -> widest weight), and
cropped to the encoding's channel counts; each conv has an affine-free BN per ratio of the gene that sets its
width. ``generator_input="block"`` (the official code's design): every generator of a block reads the block's
code (``BlockSpec.code``: its mid, input and output ratios) through ``BlockSpec.generator_hidden`` units;
``"layer"``: each conv's generator reads only its own (input ratio, output ratio). Optionally
(``generated_affine``, not in the paper) the generator also emits the BN's per-channel scale and shift, so they
depend on the code: with affine-free BN a residual branch always adds at unit variance and a one-channel block
cannot fade out, which a trained network's BN scale lets it do; with ``silent_residuals`` the scale of each
residual branch's last BN starts at 0, so every block starts as the identity.
A choice is one ratio index per gene of the network's ``NetSpec``; widths come from ``layer_widths``, the decoder
the search, FLOPs count and pruned network use too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from slimkit.models.channel_net import ChannelNet, activate
from slimkit.models.channel_spec import ConvSpec, NetSpec, channels, layer_widths

DEFAULT_RATIOS = tuple((10 + 3 * step) / 100 for step in range(31))  # 0.10, 0.13, ..., 1.00 (the paper's 31)
LAYER_HIDDEN = 32  # generator_input="layer"'s hidden width when none is given
Choice = Sequence[int]
GeneratorInput = Literal["block", "layer"]


class GeneratedConv(nn.Module):
    """A conv whose weight an MLP generates from a code of ratios, cropped to the widths in use, then the BN
    picked by the structure (one per entry of ``norm_widths``; affine as ``conv.affine_norm`` says; with
    ``generated_affine`` followed by a generated per-channel scale and shift) and the activation."""

    def __init__(
        self,
        conv: ConvSpec,
        code_size: int,
        hidden: int,
        norm_widths: Sequence[int],
        generated_affine: bool = False,
        pointwise_matmul: bool = True,
    ) -> None:
        super().__init__()
        self.spec = conv
        self.as_matmul = pointwise_matmul and conv.kernel == 1 and conv.stride == 1 and not conv.depthwise
        self.shape = (conv.out_base, 1 if conv.depthwise else conv.in_base, conv.kernel, conv.kernel)
        self.weight_size = self.shape[0] * self.shape[1] * self.shape[2] * self.shape[3]
        self.generated_affine = generated_affine
        self.encode = nn.Linear(code_size, hidden)
        self.generate = nn.Linear(hidden, self.weight_size + (2 * conv.out_base if generated_affine else 0))
        if generated_affine:
            # scale and shift start at exactly 1 and 0 for every code, as a plain BN's affine does; from the
            # default init they spread per channel (std 0.18 to 0.31 on the digits ResNet-56), and its
            # PruningNet trained slowly and unevenly across seeds (test top-1 after 90 epochs, run seeds
            # 42 1 2 3 4: 0.94 0.94 0.94 0.91 0.80 from that init, 0.95 0.94 0.96 0.95 0.86 from this one)
            nn.init.zeros_(self.generate.weight[self.weight_size :])
            nn.init.zeros_(self.generate.bias[self.weight_size :])
        self.norms = nn.ModuleList(nn.BatchNorm2d(width, affine=conv.affine_norm) for width in norm_widths)

    def start_silent(self) -> None:
        """Generate a BN scale of exactly 0 for every code until training moves it: the conv that ends a
        residual branch starts its block as the identity (needs ``generated_affine``)."""
        with torch.no_grad():
            self.generate.bias[self.weight_size : self.weight_size + self.spec.out_base].fill_(-1.0)

    def generated(
        self, code: torch.Tensor, in_width: int, out_width: int
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """The weight for ``code`` (the generator's ratios), cropped to the widths in use, and the BN's
        scale and shift (None without ``generated_affine``). The scale is 1 + the generated value, so a fresh
        generator starts at the affine-free BN."""
        output = self.generate(F.relu(self.encode(code)))
        weight = output[: self.weight_size].view(self.shape)
        weight = weight[:out_width] if self.spec.depthwise else weight[:out_width, :in_width]
        if not self.generated_affine:
            return weight, None, None
        scale, shift = output[self.weight_size :].view(2, -1)[:, :out_width]
        return weight, 1 + scale, shift

    def forward(self, x: torch.Tensor, code: torch.Tensor, widths: tuple[int, int], norm: int) -> torch.Tensor:
        conv = self.spec
        weight, scale, shift = self.generated(code, *widths)
        if self.as_matmul:
            x = pointwise_conv(x, weight)
        else:
            groups = widths[1] if conv.depthwise else 1
            x = F.conv2d(x, weight, None, conv.stride, conv.kernel // 2, 1, groups)
        x = self.norms[norm](x)
        if scale is not None:
            x = x * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)
        return activate(x, conv.activation)


class PruningNet(nn.Module):
    """The PruningNet of ``spec``: ``forward(x, choice)`` runs the network of one choice (a ratio index per
    gene; ``set_choice`` sets the default). The classifier's input is cropped to the last width. ``hidden``
    overrides every generator's hidden width (None: the blocks' own, ``LAYER_HIDDEN`` for ``"layer"``)."""

    task = "classification"

    def __init__(
        self,
        spec: NetSpec,
        ratios: Sequence[float] = DEFAULT_RATIOS,
        hidden: int | None = None,
        generated_affine: bool = False,
        min_channels: int = 1,
        pointwise_matmul: bool = True,
        generator_input: GeneratorInput = "block",
        silent_residuals: bool = False,
    ) -> None:
        super().__init__()
        self.check_ratios(ratios)
        if silent_residuals and not generated_affine:
            raise ValueError("silent residual branches need generated BN scales (generated_affine)")
        self.spec, self.ratios = spec, tuple(float(r) for r in ratios)
        self.gene_choices = allowed_choices(spec, self.ratios, min_channels)
        codes = generator_codes(spec, generator_input, hidden)
        self.layers = nn.ModuleList(
            GeneratedConv(conv, len(code), width, norm_widths(conv, self.ratios), generated_affine, pointwise_matmul)
            for conv, (code, width) in zip(spec.convs, codes, strict=True)
        )
        if silent_residuals:
            for block in spec.blocks:
                if block.shortcut != "none":
                    self.layers[block.convs[-1]].start_silent()
        self.classifier = nn.Linear(spec.features_base, spec.num_classes)
        self.choice: tuple[int, ...] = (len(self.ratios) - 1,) * len(spec.genes)
        # every generator's code genes in one flat index; len(genes) stands for an unpruned width (ratio 1)
        fixed = len(spec.genes)
        flat = [fixed if gene is None else gene for code, _ in codes for gene in code]
        self.register_buffer("code_genes", torch.tensor(flat), persistent=False)
        self.code_sizes = [len(code) for code, _ in codes]

    def codes(self, encoding: Sequence[float]) -> tuple[torch.Tensor, ...]:
        """Every conv's generator input, gathered in one go: one host-to-device copy per forward rather than
        one per layer."""
        table = torch.tensor([*encoding, 1.0], device=self.code_genes.device, dtype=self.classifier.weight.dtype)
        return table[self.code_genes].split(self.code_sizes)

    @property
    def lowest_choices(self) -> dict[str, int]:
        """Per gene name, the narrowest ratio index training and search may use."""
        return {gene: allowed.start for gene, allowed in zip(self.spec.genes, self.gene_choices, strict=True)}

    @staticmethod
    def check_ratios(ratios: Sequence[float]) -> None:
        if not ratios or not all(0.0 < r <= 1.0 for r in ratios) or list(ratios) != sorted(set(ratios)):
            raise ValueError(f"channel ratios must be distinct, increasing and in (0, 1], got {list(ratios)}")

    def encoding(self, choice: Choice) -> tuple[float, ...]:
        if len(choice) != len(self.spec.genes) or not all(0 <= c < len(self.ratios) for c in choice):
            raise ValueError(f"a choice is {len(self.spec.genes)} indices into {len(self.ratios)} ratios: {choice}")
        return tuple(self.ratios[c] for c in choice)

    def choice_for(self, encoding: Sequence[float]) -> tuple[int, ...]:
        """The choice whose network has ``encoding``'s widths: per gene, the narrowest ratio it may take (its
        floor kept) that gives every conv of the gene the same channels. ValueError when a width is one the
        PruningNet never generates (between two of its ratios, or under the floor)."""
        choice = []
        for gene, (name, ratio) in enumerate(zip(self.spec.genes, encoding, strict=True)):
            bases = gene_bases(self.spec, gene)
            same = (
                i
                for i in self.gene_choices[gene]
                if all(channels(b, self.ratios[i]) == channels(b, ratio) for b in bases)
            )
            index = next(same, None)
            if index is None:
                raise ValueError(f"no ratio the PruningNet trains {name} at gives it the widths of ratio {ratio}")
            choice.append(index)
        return tuple(choice)

    def set_choice(self, choice: Choice) -> None:
        self.encoding(choice)
        self.choice = tuple(choice)

    def forward(self, x: torch.Tensor, choice: Choice | None = None) -> torch.Tensor:
        choice = self.choice if choice is None else choice
        encoding = self.encoding(choice)
        widths, features = layer_widths(self.spec, encoding)
        codes = self.codes(encoding)

        def run(index: int, inputs: torch.Tensor) -> torch.Tensor:
            norm = norm_index(self.spec.convs[index], choice)
            return self.layers[index](inputs, codes[index], widths[index], norm)

        for block in self.spec.blocks:
            block_input = x
            for index in block.convs:
                x = run(index, x)
            if block.shortcut == "identity":
                x = x + block_input
            elif block.shortcut != "none":
                x = x + run(block.shortcut, block_input)
            x = activate(x, block.activation)
        pooled = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return F.linear(pooled, self.classifier.weight[:, :features], self.classifier.bias)

    @torch.no_grad()
    def materialize(self, choice: Choice) -> ChannelNet:
        """The plain network of ``choice``: the generated weights, the running statistics of the choice's BNs
        and their scale and shift (1 and 0 when affine-free: the same function in eval mode) and the classifier's
        crop."""
        encoding = self.encoding(choice)
        network = ChannelNet(self.spec, encoding)
        widths, features = layer_widths(self.spec, encoding)
        codes = self.codes(encoding)
        for index, (conv, layer, plain) in enumerate(zip(self.spec.convs, self.layers, network.layers, strict=True)):
            weight, scale, shift = layer.generated(codes[index], *widths[index])
            plain.conv.weight.copy_(weight)
            norm = layer.norms[norm_index(conv, choice)]
            bn_scale = torch.ones_like(plain.bn.weight) if norm.weight is None else norm.weight
            bn_shift = torch.zeros_like(plain.bn.bias) if norm.bias is None else norm.bias
            if scale is not None:  # the generated affine follows the BN's own
                bn_scale, bn_shift = bn_scale * scale, bn_shift * scale + shift
            plain.bn.weight.copy_(bn_scale)
            plain.bn.bias.copy_(bn_shift)
            plain.bn.running_mean.copy_(norm.running_mean)
            plain.bn.running_var.copy_(norm.running_var)
        network.classifier.weight.copy_(self.classifier.weight[:, :features])
        network.classifier.bias.copy_(self.classifier.bias)
        return network


def pointwise_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A stride-1 1x1 conv as one matrix product over the pixels, equal to ``F.conv2d``: cuBLAS takes any new
    shape at once, where cuDNN builds an execution plan for each new (batch, channels, size) of every conv, and
    a PruningNet brings new shapes every step (on an H100 a fresh run's planning halved its throughput: 1,004
    img/s, 2,167 with every shape planned before). A channels-last input needs no copy; an NCHW one costs two
    (in and out), and the output keeps the input's layout."""
    batch, channels_in, height, width = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, channels_in)
    out = F.linear(rows, weight.flatten(1)).view(batch, height, width, -1).permute(0, 3, 1, 2)
    return out if x.is_contiguous(memory_format=torch.channels_last) else out.contiguous()


@contextmanager
def conv_precision_for_matmuls() -> Iterator[None]:
    """Matrix products in the precision cuDNN gives convs while a PruningNet trains (its 1x1 convs are matrix
    products): PyTorch allows TF32 in cuDNN convs by default but not in matrix products."""
    kept = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = kept


def generator_codes(
    spec: NetSpec, generator_input: GeneratorInput, hidden: int | None
) -> list[tuple[tuple[int | None, ...], int]]:
    """Per conv of ``spec``: the genes its generator reads (None: an unpruned width, ratio 1) and its hidden
    width. ``block``: the code and hidden width of the conv's block (its shortcut conv's too); ``layer``: the
    conv's own (input gene, output gene)."""
    if generator_input == "layer":
        return [((conv.in_gene, conv.out_gene), hidden or LAYER_HIDDEN) for conv in spec.convs]
    if generator_input != "block":
        raise ValueError(f"a generator input is block or layer, got {generator_input!r}")
    codes: dict[int, tuple[tuple[int | None, ...], int]] = {}
    for block in spec.blocks:
        shortcut = (block.shortcut,) if isinstance(block.shortcut, int) else ()
        for index in (*block.convs, *shortcut):
            codes[index] = (block.code, hidden or block.generator_hidden)
    return [codes[index] for index in range(len(spec.convs))]


def norm_widths(conv: ConvSpec, ratios: Sequence[float]) -> list[int]:
    """The widths of a conv's PruningNet BNs, one per ratio of its norm gene (one BN when it has none)."""
    if conv.norm_gene is None:
        return [conv.out_base]
    if conv.norm_gene == conv.out_gene:
        return [channels(conv.out_base, ratio) for ratio in ratios]
    return [conv.out_base] * len(ratios)  # picked by the input ratio: the output is never pruned


def norm_index(conv: ConvSpec, choice: Choice) -> int:
    """Which of the conv's BNs the structure ``choice`` runs."""
    return 0 if conv.norm_gene is None else choice[conv.norm_gene]


def allowed_choices(spec: NetSpec, ratios: Sequence[float], min_channels: int = 1) -> tuple[range, ...]:
    """Per gene, the ratio indices whose widths keep every layer of the gene at ``min_channels`` or more (a
    layer narrower than that keeps its full width): the choices PruningNet training samples and the search
    explores. 1, the paper's, allows every ratio."""
    if min_channels < 1:
        raise ValueError(f"min_channels must be >= 1, got {min_channels}")
    choices = []
    for gene, name in enumerate(spec.genes):
        bases = gene_bases(spec, gene)
        lowest = next(
            (i for i, r in enumerate(ratios) if all(channels(b, r) >= min(min_channels, b) for b in bases)), None
        )
        if lowest is None:
            raise ValueError(f"no ratio in {list(ratios)} keeps {name} at {min_channels} channels or more")
        choices.append(range(lowest, len(ratios)))
    return tuple(choices)


def gene_bases(spec: NetSpec, gene: int) -> set[int]:
    """The full widths of the convs whose output width ``gene`` sets."""
    return {conv.out_base for conv in spec.convs if conv.out_gene == gene}
