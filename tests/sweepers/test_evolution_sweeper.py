"""hydra/sweeper=evolution on real jobs: generations as launcher batches, resume after kill -9,
the pre-launch constraint."""

from __future__ import annotations

import json
import time

import pytest
from conftest import run_train, start_train
from omegaconf import OmegaConf

from slimkit.search import EvolutionSearch

pytestmark = pytest.mark.slow  # every test runs a sweep of train.py jobs

TINY_JOB = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=2",
    "callbacks.progress_bar=null",
]
SPACE = ["data.batch_size=16,32,64", "method.runner.optimizer.lr=0.01,0.05,0.1,0.2"]


def evolution_command(sweep_dir, *extra, models="lenet,resnet"):
    return [
        "-m",
        "hydra/sweeper=evolution",
        f"model={models}",
        *SPACE,
        *TINY_JOB,
        f"hydra.sweep.dir={sweep_dir}",
        *extra,
    ]


def launched_jobs(sweep_dir) -> list[dict]:
    return [
        OmegaConf.to_container(OmegaConf.load(path))
        for path in sorted(sweep_dir.glob("*/.hydra/overrides.yaml"), key=lambda p: int(p.parent.parent.name))
    ]


def test_three_generations_of_six_then_resume_after_kill(tmp_path):
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    result = run_train(evolution_command(reference_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    reference = OmegaConf.load(reference_dir / "evolution_results.yaml")
    assert reference.generations_completed == 3
    jobs = launched_jobs(reference_dir)
    assert len(jobs) == 18 and len({tuple(sorted(job)) for job in jobs}) == 18  # no candidate twice
    assert all((reference_dir / str(number) / "results.json").is_file() for number in range(18))
    assert (reference_dir / "search_curve.png").is_file()

    process = start_train(evolution_command(killed_dir), tmp_path / "killed.log")
    state = killed_dir / "evolution_state.json"
    deadline = time.time() + 240
    while not state.is_file():  # the state appears when generation 1 is complete
        assert process.poll() is None and time.time() < deadline, (tmp_path / "killed.log").read_text()[-3000:]
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert EvolutionSearch.load(state).generation < 3
    resumed = run_train(evolution_command(killed_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming the search" in resumed.stderr + resumed.stdout
    assert OmegaConf.load(killed_dir / "evolution_results.yaml") == reference  # same search, same result
    final = json.loads(state.read_text())
    assert (
        EvolutionSearch.from_state_dict(final).history
        == EvolutionSearch.load(reference_dir / "evolution_state.json").history
    )


def test_constraint_keeps_infeasible_candidates_from_launching(tmp_path):
    result = run_train(
        evolution_command(
            tmp_path,
            "hydra.sweeper.generations=2",
            "+hydra.sweeper.constraint._target_=slimkit.model_cost.ModelBudget",
            "+hydra.sweeper.constraint.max_params=100000",  # only LeNet-5 (62k) fits
            models="lenet,resnet,wrn",
        )
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = launched_jobs(tmp_path)
    assert len(jobs) == 12 and all("model=lenet" in job for job in jobs)
    history = EvolutionSearch.load(tmp_path / "evolution_state.json").history
    assert sum(record["rejected"].get("infeasible", 0) for record in history) > 0
