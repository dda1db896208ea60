"""The SPOS ShuffleNetV2 space: paths, the supernet's sliced single-path forward (gradients only on the
sampled path), the retrain network, and FLOPs / parameter tables equal to FlopCounterMode and numel."""

from __future__ import annotations

import random

import pytest
import torch
from conftest import QUICK, read_results, run_train
from torch._dynamo.utils import counters
from torch.utils.flop_counter import FlopCounterMode

from slimkit.models.shufflenet_costs import build_cost_table
from slimkit.models.shufflenet_supernet import (
    CHANNEL_SCALES,
    Path,
    ShuffleNetOneShot,
    ShuffleNetSpace,
    ShuffleNetSupernet,
)

PAPER = ShuffleNetSpace()  # the paper's 20-block space
NUM_BLOCKS = PAPER.num_blocks


def test_paths_round_trip_and_reject_bad_choices():
    path = Path.sample(random.Random(0), NUM_BLOCKS, search_channels=True)
    assert Path.from_json(path.to_json()) == path
    with pytest.raises(ValueError, match="block choices"):
        Path((4,) * NUM_BLOCKS)
    with pytest.raises(ValueError, match="a scale per block"):
        Path((0,) * 3, (4,) * 2)
    with pytest.raises(ValueError, match="this space 20"):
        PAPER.check(Path((0,) * 3))


def test_a_smaller_space_builds_a_shallower_supernet_and_its_costs():
    digits = ShuffleNetSpace(stage_repeats=(1, 1, 2, 1), stage_widths=(32, 64, 128, 256), last_width=512)
    supernet = ShuffleNetSupernet(1, 10, 8, stage_repeats=[1, 1, 2, 1], stage_widths=[32, 64, 128, 256], last_width=512)
    assert supernet.space == digits and len(supernet.blocks) == 5
    path = Path.sample(random.Random(3), digits.num_blocks)
    assert supernet(torch.randn(2, 1, 8, 8), path).shape == (2, 10)
    table = build_cost_table(1, 10, 8, search_channels=False, space=digits)
    network = ShuffleNetOneShot(1, 10, 8, path, **vars(digits)).eval()
    assert table.params(path) == sum(p.numel() for p in network.parameters())
    with pytest.raises(ValueError, match="this space 5"):
        supernet.set_path(Path((0,) * 20))
    with pytest.raises(ValueError, match="one entry per stage"):
        ShuffleNetSpace(stage_repeats=(1, 1), stage_widths=(8,))
    with pytest.raises(ValueError, match="must grow from model.stem_width"):
        ShuffleNetSpace(stage_repeats=(1, 1, 1, 1), stage_widths=(8, 16, 32, 64))  # stem 16: block 0 adds nothing


def test_only_the_sampled_path_gets_gradients():
    torch.manual_seed(0)
    supernet = ShuffleNetSupernet(1, 10, 32, search_channels=True)
    path = Path.sample(random.Random(1), NUM_BLOCKS, search_channels=True)
    supernet(torch.randn(2, 1, 32, 32), path).sum().backward()
    for block, (ops, choice) in enumerate(zip(supernet.blocks, path.blocks, strict=True)):
        for index, op in enumerate(ops):
            touched = any(p.grad is not None and p.grad.abs().sum() > 0 for p in op.parameters())
            assert touched == (index == choice), (block, index)
    # channel slicing: filters past the path's mid width of the chosen op get no gradient
    first = supernet.blocks[0][path.blocks[0]].branch[0].conv.weight
    mid = max(1, round(64 // 2 * CHANNEL_SCALES[path.scales[0]]))
    assert first.grad[mid:].abs().sum() == 0 and first.grad[:mid].abs().sum() > 0


@pytest.mark.slow
def test_compiled_ops_train_like_the_plain_ones_and_evaluation_stays_plain():
    torch.manual_seed(0)
    plain = ShuffleNetSupernet(1, 10, 8).double()
    compiled = ShuffleNetSupernet(1, 10, 8).double()
    compiled.load_state_dict(plain.state_dict())
    compiled.compile_ops()
    assert compiled.state_dict().keys() == plain.state_dict().keys()  # checkpoints unchanged
    x, path = torch.randn(4, 1, 8, 8, dtype=torch.float64), Path((0,) * NUM_BLOCKS)
    torch.testing.assert_close(compiled(x, path), plain(x, path))
    assert compiled.blocks[0][0].branch[0].bn.num_batches_tracked == 1  # the shared op was the one trained
    graphs = counters["stats"]["unique_graphs"]
    compiled.eval()  # evaluation (BN recalibration changes BN momentum per batch) runs the plain ops
    torch.testing.assert_close(compiled(x, path), plain.eval()(x, path))
    assert counters["stats"]["unique_graphs"] == graphs


def test_supernet_bn_is_affine_free_and_the_retrained_network_is_not():
    supernet = ShuffleNetSupernet(1, 10, 32)
    assert all(not bn.affine for bn in supernet.modules() if isinstance(bn, torch.nn.BatchNorm2d))
    standalone = ShuffleNetOneShot(1, 10, 32, Path((1,) * NUM_BLOCKS))
    assert all(bn.affine for bn in standalone.modules() if isinstance(bn, torch.nn.BatchNorm2d))
    assert standalone(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="without channel search"):
        supernet.set_path(Path((0,) * NUM_BLOCKS, (0,) * NUM_BLOCKS))


@pytest.mark.slow
@pytest.mark.parametrize(("in_channels", "input_size"), [(1, 32), (3, 224)])
def test_cost_table_equals_flop_counter_and_numel_for_20_random_paths(in_channels, input_size):
    table = build_cost_table(in_channels, 10, input_size, search_channels=True, space=PAPER)
    rng = random.Random(input_size)
    for _ in range(20):
        path = Path.sample(rng, NUM_BLOCKS, search_channels=True)
        network = ShuffleNetOneShot(in_channels, 10, input_size, path).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            network(torch.zeros(1, in_channels, input_size, input_size))
        assert table.flops(path) == counter.get_total_flops()
        assert table.params(path) == sum(p.numel() for p in network.parameters())


def test_the_retrain_network_reads_an_architecture_file_and_names_bad_ones(tmp_path):
    path = Path.sample(random.Random(5), NUM_BLOCKS, search_channels=True)
    architecture = tmp_path / "architecture.json"
    architecture.write_text(path.to_json())
    assert ShuffleNetOneShot(1, 10, 32, str(architecture)).path == path
    assert ShuffleNetOneShot(
        1, 10, 32, '{"blocks": [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]}'
    ).path == (Path((2,) * NUM_BLOCKS))
    with pytest.raises(ValueError, match="cannot read"):
        ShuffleNetOneShot(1, 10, 32, str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="this space 20"):
        ShuffleNetOneShot(1, 10, 32, '{"blocks": [1]}')


@pytest.mark.slow
def test_train_py_retrains_an_architecture_and_refuses_a_missing_file(tmp_path):
    architecture = tmp_path / "architecture.json"
    path = Path.sample(random.Random(2), NUM_BLOCKS, search_channels=True)
    architecture.write_text(path.to_json())
    run_dir = tmp_path / "run"
    args = ["model=shufflenet_oneshot", f"model.path={architecture}", "data.image_size=16", *QUICK]
    done = run_train([*args, f"hydra.run.dir={run_dir}"])
    assert done.returncode == 0, done.stderr[-2000:]
    expected = sum(p.numel() for p in ShuffleNetOneShot(1, 10, 16, path).parameters())
    assert read_results(run_dir)["metrics"]["model/params"] == expected  # the file's architecture was trained
    done = run_train(
        [
            "model=shufflenet_oneshot",
            f"model.path={tmp_path / 'missing.json'}",
            *QUICK,
            f"hydra.run.dir={tmp_path / 'bad'}",
        ]
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: model: cannot read the architecture file")
