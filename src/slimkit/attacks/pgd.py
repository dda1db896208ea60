"""L-inf PGD (Madry et al. 2018), the attack DP-Net's robust compression trains with and reports against.

The data is normalised, so the eps-ball and the valid pixel range live in normalised space: per channel,
eps / std and [(0 - mean) / std, (1 - mean) / std]. ``normalized_pgd_settings`` does that conversion.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

Bound = float | torch.Tensor


@dataclass(frozen=True)
class PgdSettings:
    """One attack: ``eps``, ``step_size``, ``lower``, ``upper`` are floats or tensors broadcastable to the input."""

    eps: Bound
    steps: int
    step_size: Bound
    lower: Bound = float("-inf")
    upper: Bound = float("inf")
    random_start: bool = True


def normalized_pgd_settings(
    eps: float,
    step_size: float,
    steps: int,
    mean: Sequence[float],
    std: Sequence[float],
    random_start: bool = True,
) -> PgdSettings:
    """Settings for inputs normalised per channel as (x - mean) / std, from pixel-space ``eps`` and ``step_size``
    (pixels in 0..1, e.g. eps = 8/255): per-channel tensors of shape (C, 1, 1)."""
    if len(mean) != len(std) or any(s <= 0 for s in std):
        raise ValueError("mean and std need one entry per channel and std > 0")
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return PgdSettings(
        eps=eps / std_t,
        steps=steps,
        step_size=step_size / std_t,
        lower=(0.0 - mean_t) / std_t,
        upper=(1.0 - mean_t) / std_t,
        random_start=random_start,
    )


def pgd_attack(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps: Bound,
    steps: int,
    step_size: Bound,
    lower: Bound = float("-inf"),
    upper: Bound = float("inf"),
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Adversarial inputs within ``eps`` (L-inf) of ``inputs`` and within [lower, upper] that raise the
    cross-entropy of ``model``: ``steps`` sign-gradient steps of ``step_size``, each projected back.

    The model runs in eval mode (its modes are restored after) and its parameters get no ``.grad``.
    ``generator`` draws the random start (uniform in the eps-ball).
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    clean = inputs.detach()
    eps_t, step_t, lower_t, upper_t = (_as_tensor(value, clean) for value in (eps, step_size, lower, upper))
    if (eps_t < 0).any():
        raise ValueError("eps must be >= 0")
    # the clean input always counts as feasible, even a hair outside [lower, upper] from rounding
    low = torch.maximum(clean - eps_t, torch.minimum(lower_t, clean))
    high = torch.minimum(clean + eps_t, torch.maximum(upper_t, clean))
    adversarial = clean.clone()
    if random_start:
        device = generator.device if generator is not None else clean.device
        noise = torch.rand(clean.shape, generator=generator, device=device, dtype=clean.dtype).to(clean.device)
        adversarial = _project(adversarial + (2 * noise - 1) * eps_t, low, high)
    with _eval_mode(model):
        for _ in range(steps):
            adversarial.requires_grad_(True)
            with torch.enable_grad():
                loss = F.cross_entropy(model(adversarial), labels, reduction="sum")
                (gradient,) = torch.autograd.grad(loss, adversarial)  # the input's gradient only
            adversarial = _project(adversarial.detach() + step_t * gradient.sign(), low, high)
    return adversarial.detach()


@torch.no_grad()
def adversarial_accuracy(
    model: nn.Module,
    dataloader: Iterable,
    settings: PgdSettings,
    *,
    generator: torch.Generator | None = None,
) -> float:
    """Accuracy of ``model`` (in eval mode) on the PGD examples of every (inputs, labels) batch of ``dataloader``.

    Batches move to the device of the model's first parameter. ``steps=0`` and ``random_start=False`` give the
    natural accuracy.
    """
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    correct = total = 0
    with _eval_mode(model):
        for batch in dataloader:
            inputs, labels = batch[0].to(device), batch[1].to(device)
            attacked = pgd_attack(
                model,
                inputs,
                labels,
                eps=settings.eps,
                steps=settings.steps,
                step_size=settings.step_size,
                lower=settings.lower,
                upper=settings.upper,
                random_start=settings.random_start,
                generator=generator,
            )
            correct += int((model(attacked).argmax(dim=1) == labels).sum())
            total += labels.numel()
    if total == 0:
        raise ValueError("the dataloader yielded no samples")
    return correct / total


def _as_tensor(value: Bound, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def _project(values: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    return torch.minimum(torch.maximum(values, low), high)


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode inside, then every module's own flag back (a net may hold frozen eval-mode parts)."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag
