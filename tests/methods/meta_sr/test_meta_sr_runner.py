"""method=meta_sr end to end from train.py on the embedded photos (tiny budget): training, the evaluation
tables, plot and comparison strip against bicubic, a benchmark folder, stage=evaluate from a checkpoint, the
upscale command with exact output sizes, and one clear line for bad settings."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import PROJECT_ROOT, read_results, run_train
from PIL import Image

pytestmark = pytest.mark.slow  # every test trains or upscales in a subprocess

TINY = [
    "method=meta_sr",
    "model=rdn",
    "model.config=small",
    "data.patch_size=16",
    "data.batch_size=4",
    "data.patches_per_epoch=8",
    "data.val_scales=[2.5]",
    "trainer.max_epochs=1",
    "callbacks.progress_bar=null",
    "method.eval_scales=[2,2.5]",
    "method.strip_scale=2.5",
]


@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory):
    """A benchmark-style folder: one RGB and one grayscale HR image (like Set14's img_003)."""
    folder = tmp_path_factory.mktemp("hr")
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.integers(0, 3, (50, 44, 3)), axis=1).clip(0, 255).astype(np.uint8)
    Image.fromarray(smooth).save(folder / "img_001.png")
    Image.fromarray(smooth[..., 0]).save(folder / "img_002.png")
    return folder


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, hr_folder):
    run = tmp_path_factory.mktemp("meta_sr")
    result = run_train([*TINY, f"method.eval_sets=[{hr_folder}]", f"hydra.run.dir={run}"], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return run


def test_training_and_evaluation_write_the_tables_plot_and_strip(trained_run, hr_folder):
    metrics = read_results(trained_run)["metrics"]
    assert "test/psnr" in metrics and "val/psnr" not in metrics
    for scale in ("2", "2.5"):
        assert f"{hr_folder.name}/psnr_x{scale}" in metrics and f"{hr_folder.name}/bicubic_psnr_x{scale}" in metrics
    evaluation = trained_run / "evaluation"
    table = (evaluation / "results.md").read_text()
    assert "bicubic" in table and "meta_sr" in table and "x2.5" in table
    assert (evaluation / "results.csv").read_text().count("\n") == 1 + 2 * 2  # header + 2 methods x 2 scales
    assert (evaluation / "psnr_vs_scale.png").is_file()
    assert (evaluation / f"comparison_{hr_folder.name}_x2.5.png").is_file()
    assert (trained_run / "checkpoints" / "last.ckpt").is_file()


def test_stage_evaluate_scores_a_checkpoint_again(trained_run, hr_folder, tmp_path):
    checkpoint = trained_run / "checkpoints" / "last.ckpt"
    overrides = ["method.stage=evaluate", f"method.checkpoint={checkpoint}", f"method.eval_sets=[{hr_folder}]"]
    result = run_train([*TINY, *overrides, f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    again, first = read_results(tmp_path)["metrics"], read_results(trained_run)["metrics"]
    name = f"{hr_folder.name}/psnr_x2.5"
    assert again[name] == pytest.approx(first[name], abs=1e-6)


@pytest.mark.parametrize(("scale", "size"), [(2.7, (118, 135)), (3.0, (132, 150))])
def test_the_upscale_command_gives_exact_sizes(trained_run, hr_folder, tmp_path, scale, size):
    Image.open(hr_folder / "img_001.png").save(tmp_path / "in.png")  # 44 wide, 50 high
    out = tmp_path / "out.png"
    command = [sys.executable, "-m", "slimkit.methods.meta_sr.upscale", str(tmp_path / "in.png"), "--scale", str(scale)]
    command += ["--ckpt", str(trained_run / "checkpoints" / "last.ckpt"), "-o", str(out), "--tile", "20"]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert Image.open(out).size == size  # (floor(r * 44), floor(r * 50))


def test_the_upscale_command_refuses_bad_input_in_one_line(tmp_path):
    command = [sys.executable, "-m", "slimkit.methods.meta_sr.upscale", str(tmp_path / "none.png"), "--scale", "0.5"]
    result = subprocess.run(
        [*command, "--ckpt", "x.ckpt", "-o", "o.png"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: --scale must be > 1, got 0.5"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("method.eval_scales=[0.5]", "method.eval_scales[0]=0.5 is out of range: must be > 1"),
        ("method.eval_sets=[/nonexistent]", "method.eval_sets: /nonexistent is not a folder of HR images"),
        ("method.stage=evaluate", "method.stage=evaluate needs method.checkpoint"),
        ("model=lenet", "method, model and data must be for the same task"),
    ],
)
def test_bad_settings_end_with_one_clear_line(override, message, tmp_path):
    base = [arg for arg in TINY if not (override.startswith("model=") and arg.startswith("model."))]
    result = run_train([*base, override, f"hydra.run.dir={tmp_path}"])
    assert result.returncode != 0
    assert message in result.stderr.strip().splitlines()[-1]
