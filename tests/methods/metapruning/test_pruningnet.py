"""The PruningNet: generated weights cropped to the structure, pointwise convs as matrix products, generated BN
affine."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from slimkit.methods.metapruning import DEFAULT_RATIOS, PruningNet, choice_for_step
from slimkit.methods.metapruning.module import PruningNetModule
from slimkit.methods.metapruning.pruningnet import conv_precision_for_matmuls, pointwise_conv
from slimkit.methods.metapruning.search import (
    evaluate_choice,
)
from slimkit.models.channel_spec import layer_widths, mobilenet_v2_spec, resnet_spec


def test_generated_weights_are_cropped_to_the_structure_and_only_its_bns_run():
    torch.manual_seed(0)
    net = PruningNet(mobilenet_v2_spec(1, 10, 8), pointwise_matmul=False)  # every weight through F.conv2d
    choice = choice_for_step(0, 5, net.gene_choices)
    widths, features = layer_widths(net.spec, net.encoding(choice))
    used: list[tuple[int, ...]] = []
    original = F.conv2d
    try:
        F.conv2d = lambda x, weight, *args: used.append(tuple(weight.shape)) or original(x, weight, *args)
        F.cross_entropy(net.train()(torch.randn(4, 1, 8, 8), choice), torch.arange(4)).backward()
    finally:
        F.conv2d = original
    expected = [
        (out, 1 if conv.depthwise else cin, conv.kernel, conv.kernel)
        for conv, (cin, out) in zip(net.spec.convs, widths, strict=True)
    ]
    assert sorted(used) == sorted(expected)
    for conv, layer in zip(net.spec.convs, net.layers, strict=True):
        ran = [int(norm.num_batches_tracked) for norm in layer.norms]
        chosen = 0 if conv.norm_gene is None else choice[conv.norm_gene]
        assert ran[chosen] == 1 and sum(ran) == 1
        assert layer.generate.weight.grad.abs().sum() > 0  # every generator learns from every structure
    assert net.classifier.weight.grad[:, features:].abs().sum() == 0


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_a_pointwise_conv_as_a_matrix_product_equals_conv2d_and_keeps_the_layout(layout):
    torch.manual_seed(0)
    x = torch.randn(3, 7, 5, 6).contiguous(memory_format=layout).requires_grad_()
    weight = torch.randn(11, 7, 1, 1, requires_grad=True)
    product = pointwise_conv(x, weight)
    conv = F.conv2d(x, weight)
    torch.testing.assert_close(product, conv)
    assert product.is_contiguous(memory_format=layout)
    for ours, reference in zip(
        torch.autograd.grad(product.square().sum(), (x, weight)),
        torch.autograd.grad(conv.square().sum(), (x, weight)),
        strict=True,
    ):
        torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)


def test_a_pruningnet_with_matrix_product_pointwise_convs_computes_what_the_all_conv_one_does():
    """MobileNetV2 (34 of its 52 convs are stride-1 1x1): same weights, same structures, same logits; and while
    a PruningNet trains, matrix products take cuDNN's conv precision and get their own back afterwards."""
    torch.manual_seed(0)
    spec = mobilenet_v2_spec(3, 10, 32, width_mult=0.5)
    convs = PruningNet(spec, pointwise_matmul=False).train()
    products = PruningNet(spec).train()
    products.load_state_dict(convs.state_dict())
    x = torch.randn(4, 3, 32, 32)
    for step in range(3):
        choice = choice_for_step(0, step, convs.gene_choices)
        torch.testing.assert_close(products(x, choice), convs(x, choice), rtol=1e-4, atol=1e-4)
    kept = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        with conv_precision_for_matmuls():
            assert torch.backends.cuda.matmul.allow_tf32 == torch.backends.cudnn.allow_tf32
        assert torch.backends.cuda.matmul.allow_tf32 is False
    finally:
        torch.backends.cuda.matmul.allow_tf32 = kept


def test_generated_bn_scale_follows_both_ratios_and_the_materialised_network_keeps_it(digits_pruningnet):
    """With generated_affine every BN starts at scale 1 and shift 0 for any structure, as a plain BN does; once
    trained, a block's last conv gets a BN scale that changes with the block's mid ratio (its input) and not
    only with the stage width (its output), and materialising a structure copies the scale and shift into the
    plain network's BN, which then computes what the PruningNet computed."""
    _, calibration, holdout = digits_pruningnet
    torch.manual_seed(0)
    net = PruningNet(resnet_spec(1, 10, 8), generated_affine=True).eval()
    genes = net.spec.genes
    last = next(i for i, conv in enumerate(net.spec.convs) if conv.in_gene is not None and "mid" in genes[conv.in_gene])
    layer, conv = net.layers[last], net.spec.convs[last]
    narrow_mid, wide_mid = (torch.tensor([ratio, 0.5, 0.5]) for ratio in (0.1, 1.0))  # (mid, input, output)
    for code in (narrow_mid, wide_mid):
        _, scale, shift = layer.generated(code, conv.in_base, conv.out_base)
        assert torch.equal(scale, torch.ones(conv.out_base)) and torch.equal(shift, torch.zeros(conv.out_base))
    with torch.no_grad():  # as training moves the generator's affine part
        for other in net.layers:
            other.generate.weight[other.weight_size :].normal_(0, 0.2)
            other.generate.bias[other.weight_size :].normal_(0, 0.2)
    _, narrow_scale, _ = layer.generated(narrow_mid, conv.in_base, conv.out_base)
    _, wide_scale, _ = layer.generated(wide_mid, conv.in_base, conv.out_base)
    assert narrow_scale.shape == (conv.out_base,) and not torch.allclose(narrow_scale, wide_scale)

    choice = tuple(random.Random(4).randrange(len(DEFAULT_RATIOS)) for _ in net.spec.genes)
    evaluate_choice(net, choice, calibration, holdout)
    materialised = net.materialize(choice).eval()
    codes = net.codes(net.encoding(choice))
    widths, _ = layer_widths(net.spec, net.encoding(choice))
    _, scale, shift = layer.generated(codes[last], *widths[last])
    torch.testing.assert_close(materialised.layers[last].bn.weight, scale)
    torch.testing.assert_close(materialised.layers[last].bn.bias, shift)
    inputs = calibration[0][0]
    with torch.no_grad():
        torch.testing.assert_close(materialised(inputs), net(inputs, choice), rtol=1e-4, atol=1e-4)


def test_silent_residuals_start_every_block_as_the_identity():
    """With silent_residuals the conv ending each residual branch generates a BN scale of 0 for any code, so a
    fresh PruningNet's identity blocks pass their input through; without generated scales it is refused."""
    torch.manual_seed(0)
    spec = resnet_spec(1, 10, 8, depth=20)
    net = PruningNet(spec, generated_affine=True, silent_residuals=True)
    for block in spec.blocks:
        last = net.layers[block.convs[-1]]
        for code in (torch.full((len(block.code),), 0.1), torch.rand(len(block.code))):
            _, scale, shift = last.generated(code, last.spec.in_base, last.spec.out_base)
            expected = 0.0 if block.shortcut != "none" else 1.0
            assert torch.equal(scale, torch.full_like(scale, expected)) and torch.equal(shift, torch.zeros_like(shift))
    with pytest.raises(ValueError, match="generated_affine"):
        PruningNet(spec, silent_residuals=True)


def test_pruningnets_of_every_run_seed_are_tested_on_the_same_structures():
    net = PruningNet(resnet_spec(1, 10, 8))
    modules = [PruningNetModule(net, 10, torch.optim.SGD, 0.0, seed=seed) for seed in (1, 2)]
    assert modules[0].structure(5) != modules[1].structure(5)  # training draws follow the run seed
    for batch in range(4):
        assert modules[0].evaluation_structure(batch) == modules[1].evaluation_structure(batch)
