"""A re-implementation of the official MetaPruning MobileNetV2 PruningNet and its training step
(liuzechun/MetaPruning, mobilenetv2/training/), written for ``metapruning_throughput.py`` to time against
slimkit's on the same network: the same layers, generators, BNs and parameter count (241,985,558 at 1000
classes), and the same per-step work the official loop does:

- every generator's input is built on the host each forward and copied to the device (one copy per layer);
- every conv, 1x1 included, runs through ``F.conv2d``;
- the loss is the official label-smoothing cross-entropy (log-softmax, smoothed one-hot, mean);
- SGD with the official two parameter groups, gradients zeroed in place (the PyTorch of its time);
- ``loss.item()`` and top-1/top-5 ``.item()`` every step for its progress meter (each a device sync).

One change: the official pools with ``AvgPool2d(7)``, which needs 224x224 inputs; this pools adaptively, the
same at 224 and usable at the small sizes of a CPU run.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SCALES = [(10 + 3 * step) / 100 for step in range(31)]
WIDTHS = [44, 22, 33, 33, 44, 44, 44, 88, 88, 88, 88, 132, 132, 132, 224, 224, 224, 448]
STAGE_BLOCKS = [1, 1, 2, 3, 4, 3, 3, 1]  # positions per stage width (the stem first)


def generator(inputs: int, hidden: int, size: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, size))


def norms(width: int, per_scale: bool = True) -> nn.ModuleList:
    return nn.ModuleList(nn.BatchNorm2d(int(width * s) if per_scale else width, affine=False) for s in SCALES)


class Stem(nn.Module):
    def __init__(self, out: int) -> None:
        super().__init__()
        self.out = out
        self.fc = generator(1, 32, out * 3 * 9)
        self.bn = norms(out)

    def forward(self, x: torch.Tensor, out_id: int) -> torch.Tensor:
        code = torch.FloatTensor([SCALES[out_id]]).to(x.device)
        weight = self.fc(code).view(self.out, 3, 3, 3)[: int(self.out * SCALES[out_id])]
        return F.relu6(self.bn[out_id](F.conv2d(x, weight, stride=2, padding=1)))


class Bottleneck(nn.Module):
    def __init__(self, inp: int, out: int, stride: int, expansion: int) -> None:
        super().__init__()
        self.inp, self.out, self.mid, self.stride = inp, out, inp * expansion, stride
        self.fc1 = generator(3, 64, self.mid * inp)
        self.fc2 = generator(3, 64, self.mid * 9)
        self.fc3 = generator(3, 64, out * self.mid)
        self.bn1, self.bn2, self.bn3 = norms(self.mid), norms(self.mid), norms(out)

    def forward(self, x: torch.Tensor, mid_id: int, in_id: int, out_id: int) -> torch.Tensor:
        mid, inp = int(self.mid * SCALES[mid_id]), int(self.inp * SCALES[in_id])
        out = int(self.out * SCALES[out_id])
        code = torch.FloatTensor([SCALES[mid_id], SCALES[in_id], SCALES[out_id]]).to(x.device)
        w1 = self.fc1(code).view(self.mid, self.inp, 1, 1)[:mid, :inp]
        w2 = self.fc2(code).view(self.mid, 1, 3, 3)[:mid]
        w3 = self.fc3(code).view(self.out, self.mid, 1, 1)[:out, :mid]
        y = F.relu6(self.bn1[mid_id](F.conv2d(x, w1)))
        y = F.relu6(self.bn2[mid_id](F.conv2d(y, w2, stride=self.stride, padding=1, groups=mid)))
        y = self.bn3[out_id](F.conv2d(y, w3))
        return y + x if self.inp == self.out else y


class Last(nn.Module):
    def __init__(self, inp: int, out: int) -> None:
        super().__init__()
        self.inp, self.out = inp, out
        self.fc = generator(1, 32, out * inp)
        self.bn = norms(out, per_scale=False)  # one BN per input scale, all ``out`` wide

    def forward(self, x: torch.Tensor, in_id: int) -> torch.Tensor:
        code = torch.FloatTensor([SCALES[in_id]]).to(x.device)
        weight = self.fc(code).view(self.out, self.inp, 1, 1)[:, : int(self.inp * SCALES[in_id])]
        return F.relu6(self.bn[in_id](F.conv2d(x, weight)))


class OfficialPruningNet(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        blocks: list[nn.Module] = [Stem(WIDTHS[0])]
        for i in range(1, 18):
            inp, out = WIDTHS[i - 1], WIDTHS[i]
            stride = 2 if inp != out and out not in (22, 132, 448) else 1
            blocks.append(Bottleneck(inp, out, stride, 1 if i == 1 else 6))
        blocks.append(Last(WIDTHS[-1], 1280))
        self.feature = nn.ModuleList(blocks)
        self.fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor, mid_ids: list[int], stage_ids: list[int]) -> torch.Tensor:
        """``mid_ids``: a scale index per position (0 unused); ``stage_ids``: per position, its stage's."""
        for i, block in enumerate(self.feature):
            if i == 0:
                x = block(x, stage_ids[0])
            elif i == 18:
                x = block(x, stage_ids[17])
            else:
                x = block(x, mid_ids[i], stage_ids[i - 1], stage_ids[i])
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def smoothed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, epsilon: float = 0.1) -> torch.Tensor:
    log_probs = F.log_softmax(logits, dim=1)
    target = torch.zeros_like(log_probs).scatter_(1, labels.unsqueeze(1), 1)
    target = (1 - epsilon) * target + epsilon / logits.size(1)
    return (-target * log_probs).mean(0).sum()


def random_structure(rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """The official draw: a mid scale per position, one output scale per stage repeated over its positions."""
    mid_ids = [int(scale) for scale in rng.integers(0, len(SCALES), size=18)]
    stage_scales = [int(rng.integers(0, len(SCALES))) for _ in STAGE_BLOCKS]
    return mid_ids, [scale for scale, count in zip(stage_scales, STAGE_BLOCKS, strict=True) for _ in range(count)]


class OfficialStep:
    """One official training step per call: a random structure, forward, smoothed loss, the progress meter's
    host reads, backward, SGD."""

    def __init__(self, net: OfficialPruningNet, lr: float = 0.25, seed: int = 0) -> None:
        self.net = net
        generated = [p for name, p in net.named_parameters() if "fc" in name]
        others = [p for name, p in net.named_parameters() if "fc" not in name]  # none: every BN is affine-free
        groups = [{"params": generated, "weight_decay": 0.0}] + ([{"params": others}] if others else [])
        self.optimizer = torch.optim.SGD(groups, lr, momentum=0.9)
        self.rng = np.random.default_rng(seed)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        mid_ids, stage_ids = random_structure(self.rng)
        logits = self.net(images, mid_ids, stage_ids)
        loss = smoothed_cross_entropy(logits, labels)
        top5 = logits.topk(5, 1).indices
        correct = top5.eq(labels.unsqueeze(1))
        meter = (loss.item(), correct[:, :1].float().sum().item(), correct.float().sum().item())
        self.optimizer.zero_grad(set_to_none=False)
        loss.backward()
        self.optimizer.step()
        return meter[0]
