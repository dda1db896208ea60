"""PGD: perturbations stay in the eps-ball and the valid range (per channel too), the attack hurts a trained
model, eps = 0 changes nothing, and the model's gradients and train/eval modes are left alone."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from slimkit.attacks import PgdSettings, adversarial_accuracy, normalized_pgd_settings, pgd_attack

MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.1)


def easy_task(samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels in 0..1, class 1 brighter on average; returned normalised with MEAN, STD."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (samples,), generator=generator)
    pixels = 0.35 + 0.3 * labels.view(-1, 1, 1, 1) + 0.15 * torch.randn(samples, 3, 4, 4, generator=generator)
    pixels = pixels.clamp(0, 1)
    normalised = (pixels - torch.tensor(MEAN).view(-1, 1, 1)) / torch.tensor(STD).view(-1, 1, 1)
    return normalised, labels


def small_model() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(48, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2)
    )


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    model = small_model()
    inputs, labels = easy_task(512, seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(60):
        batch = slice((step % 8) * 64, (step % 8 + 1) * 64)
        optimizer.zero_grad()
        F.cross_entropy(model(inputs[batch]), labels[batch]).backward()
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return model


def test_normalized_settings_are_per_channel():
    settings = normalized_pgd_settings(8 / 255, 2 / 255, 5, MEAN, STD)
    assert settings.eps.shape == (3, 1, 1)
    torch.testing.assert_close(settings.eps.flatten(), torch.tensor([8 / 255 / s for s in STD]))
    torch.testing.assert_close(settings.step_size.flatten(), torch.tensor([2 / 255 / s for s in STD]))
    torch.testing.assert_close(settings.lower.flatten(), torch.tensor([-m / s for m, s in zip(MEAN, STD, strict=True)]))
    torch.testing.assert_close(
        settings.upper.flatten(), torch.tensor([(1 - m) / s for m, s in zip(MEAN, STD, strict=True)])
    )
    with pytest.raises(ValueError, match="std > 0"):
        normalized_pgd_settings(0.1, 0.1, 1, MEAN, (1.0, 0.0, 1.0))


@pytest.mark.parametrize("per_channel", [False, True])
def test_perturbation_stays_in_the_ball_and_the_bounds(trained, per_channel):
    inputs, labels = easy_task(64, seed=2)
    if per_channel:
        settings = normalized_pgd_settings(0.1, 0.04, 5, MEAN, STD)
    else:
        settings = PgdSettings(eps=0.3, steps=5, step_size=0.1, lower=-2.0, upper=2.0)
        inputs = inputs.clamp(-2.0, 2.0)
    attacked = pgd_attack(
        trained,
        inputs,
        labels,
        eps=settings.eps,
        steps=settings.steps,
        step_size=settings.step_size,
        lower=settings.lower,
        upper=settings.upper,
        generator=torch.Generator().manual_seed(3),
    )
    eps = torch.as_tensor(settings.eps)
    assert ((attacked - inputs).abs() <= eps * (1 + 1e-6)).all()
    assert (attacked >= torch.as_tensor(settings.lower) - 1e-6).all()
    assert (attacked <= torch.as_tensor(settings.upper) + 1e-6).all()
    assert (attacked != inputs).any()
    if per_channel:  # channel 2 has the smallest std, so the widest normalised ball
        widest = (attacked - inputs).abs().amax(dim=(0, 2, 3))
        assert widest[2] > eps.flatten()[0]


def test_attack_lowers_accuracy(trained):
    inputs, labels = easy_task(256, seed=4)
    loader = DataLoader(TensorDataset(inputs, labels), batch_size=64)
    natural = adversarial_accuracy(trained, loader, PgdSettings(eps=0.0, steps=0, step_size=0.0, random_start=False))
    settings = normalized_pgd_settings(0.2, 0.05, 10, MEAN, STD)
    robust = adversarial_accuracy(trained, loader, settings, generator=torch.Generator().manual_seed(5))
    noise = adversarial_accuracy(
        trained, loader, replace(settings, steps=0), generator=torch.Generator().manual_seed(5)
    )
    assert natural > 0.9 and noise > 0.9  # random noise of the same size does not do it: the gradient steps do
    assert robust < natural - 0.3


@pytest.mark.parametrize("random_start", [False, True])
def test_zero_eps_leaves_inputs_unchanged(trained, random_start):
    inputs, labels = easy_task(32, seed=6)
    attacked = pgd_attack(
        trained, inputs, labels, eps=0.0, steps=3, step_size=0.5, lower=-10.0, upper=10.0, random_start=random_start
    )
    assert torch.equal(attacked, inputs)


def test_no_parameter_gradients_and_modes_restored(trained):
    inputs, labels = easy_task(32, seed=7)
    trained.train()
    trained[4].eval()  # a frozen part keeps its own mode
    pgd_attack(trained, inputs, labels, eps=0.1, steps=2, step_size=0.05)
    assert all(parameter.grad is None for parameter in trained.parameters())
    assert trained.training and trained[2].training and not trained[4].training
    trained.eval()
    pgd_attack(trained, inputs, labels, eps=0.1, steps=2, step_size=0.05)
    assert not any(module.training for module in trained.modules())


def test_attack_runs_in_eval_mode():
    """BatchNorm in train mode would update its running stats during the attack."""
    torch.manual_seed(8)
    model = small_model().train()
    before = model[2].running_mean.clone()
    inputs, labels = easy_task(16, seed=9)
    pgd_attack(model, inputs, labels, eps=0.1, steps=2, step_size=0.05, random_start=False)
    assert torch.equal(model[2].running_mean, before) and model.training
