"""The accelerator's cost of a network: per layer the cycle model's cycles on the shapes the export writes, the
index words and the fit; the NetSpec path equal to the module path; depthwise convs refused in one line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from slimkit.accelerator import layer_cycles
from slimkit.accelerator.builds import BUILDS, resolve_build
from slimkit.accelerator.config import ArrayConfig
from slimkit.accelerator.memory_images import capture_layer_inputs, export_model, read_export
from slimkit.accelerator.network_cost import AcceleratorCost, CycleLimits
from slimkit.errors import ConfigError
from slimkit.models.channel_net import MobileNetV1, PrunableResNet
from slimkit.models.channel_spec import mobilenet_v1_spec, resnet_spec
from tests.accelerator.test_export import quantize


@pytest.mark.parametrize("build", ["up5k_mac_2x4", "up5k_centroid_2x4", "mac_8x8"])
@pytest.mark.parametrize("ratios", [None, (0.25, 0.5, 1.0, 0.4, 0.7, 0.3, 0.9, 0.6, 0.2, 0.8, 0.1, 0.5)])
def test_the_spec_path_equals_the_module_path(build, ratios):
    """A search costs encodings from the NetSpec alone; the same network built as modules and traced gives the
    very same layers (names, shapes, cycles, index words, fit)."""
    spec = resnet_spec(1, 10, 8, depth=20, base_width=8)
    encoding = spec.full_encoding() if ratios is None else ratios
    network = PrunableResNet(1, 10, 8, depth=20, base_width=8, encoding=list(encoding))
    cost = AcceleratorCost(build)
    assert cost.of_spec(spec, encoding) == cost.of_model(network, (1, 8, 8))


def test_layer_cycles_are_the_cycle_model_on_the_exported_shapes(tmp_path):
    """Per layer: rows x columns x vectors as the export writes them for one sample, the cycle model's cycles on
    them, one index word per tile; the network's cycles their sum."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 6, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(6, 5, 3), nn.Flatten(), nn.Linear(5 * 2 * 2, 3)
    ).eval()
    quantized = {f"{name}.weight": quantize(model[int(name)].weight, 4) for name in ("0", "2", "4")}
    captured = capture_layer_inputs(model, torch.randn(1, 1, 8, 8), ["0", "2", "4"])
    export_model(tmp_path, model, quantized, captured)
    exported = read_export(tmp_path)
    config = BUILDS["up5k_mac_2x4"]
    network = AcceleratorCost("up5k_mac_2x4").of_model(model, (1, 8, 8))
    assert [layer.name for layer in network.layers] == list(exported)
    for layer in network.layers:
        meta = exported[layer.name].meta
        assert (layer.rows, layer.columns, layer.vectors) == (meta["rows"], meta["columns"], meta["vectors"])
        assert layer.cycles == layer_cycles(config, layer.rows, layer.columns, layer.vectors)
        row_tiles, column_tiles = config.tiles(layer.rows, layer.columns)
        assert layer.index_words == row_tiles * column_tiles and layer.misfit is None
    assert network.cycles == sum(layer.cycles for layer in network.layers)
    assert network.metrics()["accel/cycles"] == float(network.cycles) and network.fits


def test_a_layer_over_the_build_is_named_with_its_reason():
    """ResNet-56 at base width 8 has 32 x 9 = 288 columns in its last stage: 72 column tiles of 4, the UP5K
    build has 64; the 8x8 build fits it."""
    spec = resnet_spec(1, 10, 8, depth=56, base_width=8)
    up5k = AcceleratorCost("up5k_mac_2x4").of_spec(spec, spec.full_encoding())
    assert not up5k.fits
    assert up5k.misfits[0].endswith("288 columns need 72 column tiles, the build has 64")
    assert AcceleratorCost("mac_8x8").of_spec(spec, spec.full_encoding()).fits
    narrow = [0.75 if gene.startswith("stage3") else 1.0 for gene in spec.genes]  # 24 x 9 = 216 columns there
    assert AcceleratorCost("up5k_mac_2x4").of_spec(spec, narrow).fits


def test_limits_allow_networks_within_the_cycles_and_the_fit():
    spec = resnet_spec(1, 10, 8, depth=56, base_width=8)
    cost = AcceleratorCost("up5k_mac_2x4")
    full, half = (cost.of_spec(spec, (ratio,) * len(spec.genes)) for ratio in (1.0, 0.5))
    assert CycleLimits(cost, max_cycles=half.cycles).allows(half)
    assert not CycleLimits(cost, max_cycles=half.cycles - 1).allows(half)
    assert CycleLimits(cost).allows(full) and not CycleLimits(cost, must_fit=True).allows(full)
    assert CycleLimits(cost, 1000, True).describe() == "cycles <= 1000 and every layer fitting on up5k_mac_2x4"


def test_depthwise_convs_are_refused_in_one_line_naming_the_layer():
    with pytest.raises(ConfigError, match=r"^layer layers\.1\.conv of mobilenet_v1 is a depthwise conv"):
        AcceleratorCost("mac_8x8").of_spec(mobilenet_v1_spec(3, 10, 32), (1.0,) * 13)
    with pytest.raises(ConfigError, match=r"^layer layers\.1\.conv cannot run on the accelerator: grouped/depthwise"):
        AcceleratorCost("mac_8x8").of_model(MobileNetV1(3, 10, 32), (3, 32, 32))


def test_builds_by_name_or_by_fields():
    assert resolve_build("mac_8x8") == ("mac_8x8", BUILDS["mac_8x8"])
    custom = {"rows": 4, "cols": 8, "index_bits": 5}
    assert resolve_build(custom) == (ArrayConfig(**custom).name, ArrayConfig(**custom))
    with pytest.raises(ConfigError, match="unknown accelerator build 'up5k': choose from up5k_mac_2x4"):
        resolve_build("up5k")
    with pytest.raises(ConfigError, match="rows and cols must be powers of two"):
        resolve_build({"rows": 3})
    with pytest.raises(ConfigError, match="unexpected keyword argument 'lanes'"):
        resolve_build({"lanes": 3})
