"""What a user sees on the command line: one clear line and a non-zero exit for bad input,
and nothing of an earlier run overwritten."""

from __future__ import annotations

import pytest
from conftest import group_options, run_train

pytestmark = pytest.mark.slow  # every test starts train.py


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["model=nonexistent"],
            "model=nonexistent is not a known option; choose one of: " + ", ".join(group_options("model")),
        ),
        (["trainer.max_epochs=abc"], "trainer.max_epochs='abc' has the wrong type: lightning.Trainer expects int"),
        (["data=cifar10", "data.root=/nope"], "data.root=/nope is not a folder"),
        (
            ["method=nonexistent"],
            "method=nonexistent is not a known option; choose one of: " + ", ".join(group_options("method")),
        ),
        (["trainer.max_epoch=3"], "Could not override 'trainer.max_epoch'"),
    ],
)
def test_bad_input_is_one_clear_line(args, expected, tmp_path):
    result = run_train([*args, f"hydra.run.dir={tmp_path / 'run'}"], timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert not (tmp_path / "run" / ".hydra").exists() and not (tmp_path / "run" / "results.json").exists()


def test_a_bad_command_leaves_an_earlier_run_untouched(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / "checkpoints").mkdir()
    earlier = {".hydra/config.yaml": "earlier config\n", "results.json": "{}\n", "metrics.csv": "step\n0\n"}
    for name, text in earlier.items():
        (run_dir / name).write_text(text)
    result = run_train(["data=cifar10", "data.root=/nope", f"hydra.run.dir={run_dir}"], timeout=120)
    assert result.returncode == 2
    for name, text in earlier.items():
        assert (run_dir / name).read_text() == text


def test_print_the_job_config_without_running():
    result = run_train(["--cfg", "job", "model=wrn", "model.depth=28"], timeout=60)
    assert result.returncode == 0
    assert "_target_: slimkit.models.WideResNet" in result.stdout and "depth: 28" in result.stdout


def test_printing_the_config_imports_no_heavy_package():
    """Hydra imports every module of hydra_plugins at start-up, so the sweepers import optuna and matplotlib
    lazily; slimkit defers torch and Lightning until a job runs. PYTHONPROFILEIMPORTTIME (``-X importtime``)
    lists every import on stderr."""
    result = run_train(["--cfg", "job"], timeout=60, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
    assert "hydra" in imported  # the listing is there
    assert not imported & {"optuna", "matplotlib", "torch", "lightning"}
