"""The PruningNets as the official MetaPruning code builds them (liuzechun/MetaPruning, */training/*.py): every
generator's code size, hidden width and weight shape, every BN, and the parameter counts, derived here from the
official layouts written out below (not from slimkit's network descriptions)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from slimkit.methods.metapruning import PruningNet
from slimkit.models.channel_spec import mobilenet_v1_spec, mobilenet_v2_spec, resnet_spec

RATIOS = [(10 + 3 * step) / 100 for step in range(31)]

# The official MobileNetV2 PruningNet: per position, the output width of the stem (index 0) and of the 17
# blocks; block 1 expands by 1, the others by 6; strides live in the network, not in the weights.
V2_WIDTHS = [44, 22, 33, 33, 44, 44, 44, 88, 88, 88, 88, 132, 132, 132, 224, 224, 224, 448]
# The official MobileNetV1 PruningNet: stem 3 -> 32, then 13 (depthwise 3x3 + pointwise) layers in -> out.
V1_LAYERS = [(32, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512)]
V1_LAYERS += [(512, 512)] * 5 + [(512, 1024), (1024, 1024)]

Generator = tuple[int, int, tuple[int, int, int, int]]  # code size, hidden units, the widest weight's shape


def v2_generators() -> list[Generator]:
    generators: list[Generator] = [(1, 32, (44, 3, 3, 3))]  # the stem reads its output ratio
    for block in range(1, 18):
        inp, out = V2_WIDTHS[block - 1], V2_WIDTHS[block]
        mid = inp * (1 if block == 1 else 6)
        # conv1 (expand), conv2 (depthwise), conv3 (project), each from (mid, input, output) ratios
        generators += [(3, 64, (mid, inp, 1, 1)), (3, 64, (mid, 1, 3, 3)), (3, 64, (out, mid, 1, 1))]
    return [*generators, (1, 32, (1280, 448, 1, 1))]  # the last 1x1 conv reads its input ratio


def v2_bn_widths() -> list[list[int]]:
    """Per conv, the widths of its 31 affine-free BNs."""
    widths = [[int(44 * ratio) for ratio in RATIOS]]
    for block in range(1, 18):
        inp, out = V2_WIDTHS[block - 1], V2_WIDTHS[block]
        mid = inp * (1 if block == 1 else 6)
        widths += [[int(mid * ratio) for ratio in RATIOS]] * 2 + [[int(out * ratio) for ratio in RATIOS]]
    return [*widths, [1280] * 31]  # one per input ratio, all 1280 wide


def v1_generators() -> list[Generator]:
    generators: list[Generator] = [(1, 32, (32, 3, 3, 3))]
    for inp, out in V1_LAYERS:  # the depthwise and pointwise generators both read (input, output) ratios
        generators += [(2, 32, (inp, 1, 3, 3)), (2, 32, (out, inp, 1, 1))]
    return generators


def linear_parameters(inputs: int, outputs: int) -> int:
    return inputs * outputs + outputs


def generator_parameters(generators: list[Generator]) -> int:
    return sum(
        linear_parameters(code, hidden) + linear_parameters(hidden, math.prod(shape))
        for code, hidden, shape in generators
    )


def built(net: PruningNet) -> list[Generator]:
    return [(layer.encode.in_features, layer.encode.out_features, layer.shape) for layer in net.layers]


def test_mobilenet_v2_pruningnet_is_the_official_one():
    net = PruningNet(mobilenet_v2_spec(3, 1000, 224))
    assert built(net) == v2_generators()
    assert [[norm.num_features for norm in layer.norms] for layer in net.layers] == v2_bn_widths()
    assert not any(norm.affine for layer in net.layers for norm in layer.norms)
    official = generator_parameters(v2_generators()) + linear_parameters(1280, 1000)
    ours = sum(parameter.numel() for parameter in net.parameters())
    print(f"MobileNetV2 PruningNet parameters: slimkit {ours:,}, official layout {official:,}")
    assert ours == official == 241_985_558
    assert len(net.spec.genes) == 8 + 17  # the stem and 7 stage widths, one mid width per block


def test_mobilenet_v1_pruningnet_is_the_official_one():
    """The stem's and the depthwise convs' BNs are affine (a scale and a shift per ratio), the pointwise convs'
    affine-free; the last layer's 1024 outputs are not pruned."""
    net = PruningNet(mobilenet_v1_spec(3, 1000, 224))
    assert built(net) == v1_generators()
    affine = [sum(2 * int(width * ratio) for ratio in RATIOS) for width in [32] + [inp for inp, _ in V1_LAYERS]]
    official = generator_parameters(v1_generators()) + sum(affine) + linear_parameters(1024, 1000)
    ours = sum(parameter.numel() for parameter in net.parameters())
    print(f"MobileNetV1 PruningNet parameters: slimkit {ours:,}, official layout {official:,}")
    assert ours == official
    assert len(net.spec.genes) == 13 and net.spec.convs[-1].out_gene is None


def test_resnet_blocks_read_mid_input_and_output_ratios_as_the_official_bottleneck():
    """The CIFAR ResNet's basic blocks as the official ResNet-50 bottlenecks: both convs and the projection
    shortcut generated from (mid, input, output) through 32 hidden units, the stem from its output ratio."""
    spec = resnet_spec(3, 10, 32, depth=20)
    net = PruningNet(spec)
    assert built(net)[0][:2] == (1, 32)
    assert all(generator[:2] == (3, 32) for generator in built(net)[1:])
    for block in spec.blocks[1:]:
        first, second = (spec.convs[index] for index in block.convs)
        assert block.code == (first.out_gene, first.in_gene, second.out_gene)


def test_the_per_layer_generator_input_is_kept_as_an_option():
    net = PruningNet(mobilenet_v2_spec(3, 1000, 224), generator_input="layer")
    assert {layer.encode.in_features for layer in net.layers} == {2}
    assert {layer.encode.out_features for layer in net.layers} == {32}
    with pytest.raises(ValueError, match="block or layer"):
        PruningNet(mobilenet_v2_spec(3, 10, 8), generator_input="conv")  # type: ignore[arg-type]


def test_a_materialised_network_computes_what_the_pruningnet_computes_with_affine_bns():
    """MobileNetV1's affine BNs (moved away from 1 and 0 as training would) are copied into the plain network."""
    torch.manual_seed(0)
    net = PruningNet(mobilenet_v1_spec(1, 10, 8), generated_affine=True)
    with torch.no_grad():
        for layer in net.layers:
            for norm in layer.norms:
                if norm.affine:
                    norm.weight.uniform_(0.5, 1.5)
                    norm.bias.normal_(0, 0.3)
            layer.generate.weight[layer.weight_size :].normal_(0, 0.2)
    choice = tuple(range(3, 3 + len(net.spec.genes)))
    inputs = torch.randn(16, 1, 8, 8)
    net.train()
    with torch.no_grad():
        net(inputs, choice)  # running statistics of this structure's BNs
    net.eval()
    plain = net.materialize(choice).eval()
    with torch.no_grad():
        torch.testing.assert_close(plain(inputs), net(inputs, choice), rtol=1e-4, atol=1e-4)


def test_the_benchmarks_official_step_computes_what_slimkits_pruningnet_computes():
    """benchmarks/metapruning_throughput.py times the official step re-implemented against slimkit's on the
    same network: with the same weights and structure both give the same logits."""
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "official_metapruning_step.py"
    module_spec = importlib.util.spec_from_file_location("official_metapruning_step", path)
    official_module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(official_module)
    torch.manual_seed(0)
    official = official_module.OfficialPruningNet(num_classes=10).train()
    ours = PruningNet(mobilenet_v2_spec(3, 10, 64), pointwise_matmul=False).train()
    pairs = list(zip(ours.parameters(), official.parameters(), strict=True))  # both in network order
    with torch.no_grad():
        for mine, theirs in pairs:
            mine.copy_(theirs)
    mid_ids, stage_ids = official_module.random_structure(np.random.default_rng(3))
    choice = [0] * len(ours.spec.genes)
    choice[ours.spec.blocks[0].code[0]] = stage_ids[0]
    for position, block in enumerate(ours.spec.blocks[1:-1], 1):  # code: (mid, input, output)
        choice[block.code[0]], choice[block.code[2]] = mid_ids[position], stage_ids[position]
    x = torch.randn(4, 3, 64, 64)
    torch.testing.assert_close(ours(x, choice), official(x, mid_ids, stage_ids), rtol=1e-4, atol=1e-4)
