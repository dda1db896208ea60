"""Why the paper's 20-block SPOS supernet barely trains on 8x8 digits, and what a digits-size space changes.

Measured side by side in one run, on the digits data (batch 64, SGD lr 0.1 momentum 0.9, linear decay,
label smoothing 0.1, as experiment=spos_digits trains):

1. the spatial size each choice block sees for 8x8, 16x16 and 32x32 inputs;
2. whether one path of the supernet and the stand-alone network of that path (weights copied) compute the
   same function at initialisation;
3. how much a small relative perturbation of one block's output is amplified by the time it reaches the
   head (||d head|| / ||head|| per unit relative perturbation), at init and after training: the measure of
   how far a change in one block (e.g. another op chosen there) moves everything after it;
4. per-block activation RMS and ||grad|| / ||weight|| of the first conv along a path, at init;
5. sampled-path training accuracy after the same number of steps for: the paper's space with uniform paths,
   the same with the four ops of every block identical at init, one fixed path, and shallower spaces;
6. how much the trained accuracy of an architecture of the digits space depends on the architecture at all:
   10 random architectures each trained from scratch twice (seeds 0 and 1, 8 epochs as the retrain stage):
   the spread between architectures against the spread between two seeds of one architecture, the rank
   correlation of the two seeds' accuracies, and the Kendall tau a perfect proxy would reach against their
   means (``slimkit.search.fidelity.retraining_noise``, as the fidelity stage reports it).

    python benchmarks/spos_supernet_depth.py             # about 10 minutes on a 2-core CPU
    python benchmarks/spos_supernet_depth.py --steps 100 # a quick look
    python benchmarks/spos_supernet_depth.py --signal-only  # part 6 alone
"""

from __future__ import annotations

import argparse
import copy
import random
import time

import torch
import torch.nn.functional as F

from slimkit.data import DigitsDataModule
from slimkit.models.shufflenet_supernet import (
    Path,
    ShuffleNetOneShot,
    ShuffleNetSpace,
    ShuffleNetSupernet,
    mid_channels,
)
from slimkit.search.fidelity import retraining_noise

PAPER = ShuffleNetSpace()
DIGITS = ShuffleNetSpace((1, 1, 2, 1), (32, 64, 128, 256), 16, 512)  # experiment=spos_digits
EIGHT = ShuffleNetSpace((2, 2, 2, 2), (32, 64, 128, 256), 16, 512)
NARROW_PAPER = ShuffleNetSpace((4, 4, 8, 4), (32, 64, 128, 256), 16, 512)


def batches(data: DigitsDataModule):
    while True:
        yield from data.train_dataloader()


def supernet(space: ShuffleNetSpace, size: int = 8, seed: int = 0) -> ShuffleNetSupernet:
    torch.manual_seed(seed)
    return ShuffleNetSupernet(1, 10, size, **vars(space))


def block_outputs(model: ShuffleNetSupernet, x: torch.Tensor, path: Path) -> list[torch.Tensor]:
    outputs, h = [], model.stem(x)
    for ops, (_, cout, _), choice, scale in zip(model.blocks, model.layout, path.blocks, path.scales, strict=True):
        h = ops[choice](h, mid_channels(cout, scale))
        outputs.append(h)
    return outputs


@torch.no_grad()
def amplification(model: ShuffleNetSupernet, x: torch.Tensor, path: Path, eps: float = 1e-3) -> list[float]:
    """Per block: relative change of the head's features per unit relative perturbation of the block's output."""
    model.train()
    outputs = block_outputs(model, x, path)
    base = model.head(outputs[-1])
    gains = []
    generator = torch.Generator().manual_seed(1)
    for index, h in enumerate(outputs):
        noise = torch.randn(h.shape, generator=generator)
        h = h + noise * (eps * h.norm() / noise.norm())
        for later in range(index + 1, len(outputs)):
            _, cout, _ = model.layout[later]
            h = model.blocks[later][path.blocks[later]](h, mid_channels(cout, path.scales[later]))
        gains.append(float((model.head(h) - base).norm() / base.norm() / eps))
    return gains


def train(model: ShuffleNetSupernet, data: DigitsDataModule, steps: int, draw, lr: float = 0.1) -> list[float]:
    """SGD as the supernet stage trains; sampled-path training accuracy per quarter of the steps."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": 4e-5}, {"params": no_decay, "weight_decay": 0.0}], lr=lr, momentum=0.9
    )
    model.train()
    rng, stream, curve, hits, seen = random.Random(0), batches(data), [], 0, 0
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * (1 - step / steps)
        x, y = next(stream)
        logits = model(x, draw(rng))
        loss = F.cross_entropy(logits, y, label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        hits, seen = hits + int((logits.argmax(1) == y).sum()), seen + len(y)
        if (step + 1) % max(1, steps // 4) == 0:
            curve.append(hits / seen)
            hits = seen = 0
    return curve


def uniform(space: ShuffleNetSpace):
    return lambda rng: Path.sample(rng, space.num_blocks)


def trained_from_scratch(path: Path, space: ShuffleNetSpace, data: DigitsDataModule, seed: int, epochs: int) -> float:
    """Test accuracy of ``path`` trained as the retrain stage trains it (SGD lr 0.1, linear decay, 8 epochs)."""
    torch.manual_seed(seed)
    network = ShuffleNetOneShot(1, 10, 8, path, **vars(space))
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1, momentum=0.9, weight_decay=4e-5)
    steps, step = epochs * len(data.train_dataloader()), 0
    for _ in range(epochs):
        network.train()
        for x, y in data.train_dataloader():
            for group in optimizer.param_groups:
                group["lr"] = 0.1 * (1 - step / steps)
            loss = F.cross_entropy(network(x), y, label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
    network.eval()
    hits = total = 0
    with torch.no_grad():
        for x, y in data.test_dataloader():
            hits, total = hits + int((network(x).argmax(1) == y).sum()), total + len(y)
    return hits / total


def architecture_signal(
    data: DigitsDataModule,
    space: ShuffleNetSpace = DIGITS,
    searched: str = "block",
    architectures: int = 10,
    epochs: int = 8,
) -> None:

    rng = random.Random(0)
    paths = [
        Path.sample(rng, space.num_blocks, search_channels=searched != "block", search_blocks=searched != "channel")
        for _ in range(architectures)
    ]
    first = [trained_from_scratch(path, space, data, 0, epochs) for path in paths]
    second = [trained_from_scratch(path, space, data, 1, epochs) for path in paths]
    noise = retraining_noise([[a, b] for a, b in zip(first, second, strict=True)], 0)
    tau = noise["first_vs_second_seed"]["kendall"]
    print("   seed 0: " + " ".join(f"{a:.3f}" for a in first))
    print("   seed 1: " + " ".join(f"{a:.3f}" for a in second))
    print(
        f"   std between architectures {noise['std_between_architectures']:.4f}, between two seeds of one "
        f"architecture {noise['std_between_seeds']:.4f}; Kendall tau seed 0 vs seed 1 {tau['tau']:.3f} "
        f"(p {tau['p']:.2f}); a perfect proxy would reach Kendall tau {noise['kendall_ceiling']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=600, help="training steps per variant")
    parser.add_argument("--signal-only", action="store_true", help="part 6 only (about 3 minutes)")
    part6 = parser.add_argument_group("part 6 in another space (default: experiment=spos_digits's)")
    part6.add_argument("--stage-repeats", type=int, nargs=4, default=DIGITS.stage_repeats, metavar="N")
    part6.add_argument("--stage-widths", type=int, nargs=4, default=DIGITS.stage_widths, metavar="W")
    part6.add_argument("--stem-width", type=int, default=DIGITS.stem_width)
    part6.add_argument("--last-width", type=int, default=DIGITS.last_width)
    part6.add_argument("--space", choices=("block", "channel", "joint"), default="block", help="what differs")
    part6.add_argument("--shift", type=int, default=0, help="data.shift of the training images")
    part6.add_argument("--epochs", type=int, default=8, help="training epochs of each architecture")
    part6.add_argument("--architectures", type=int, default=10, help="how many random architectures")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = DigitsDataModule(image_size=8, batch_size=64, shift=args.shift)
    data.setup("fit")
    data.setup("test")
    x, _ = next(batches(data))
    if args.signal_only:
        try:
            space = ShuffleNetSpace(
                tuple(args.stage_repeats), tuple(args.stage_widths), args.stem_width, args.last_width
            )
        except ValueError as error:
            parser.error(str(error))
        count = args.architectures
        print(f"6. trained accuracy of {count} random architectures ({args.space} space {space}), two seeds each")
        architecture_signal(data, space, args.space, args.architectures, args.epochs)
        return

    print("1. spatial size per block (paper space)")
    for size in (8, 16, 32):
        sizes = [size // 2 ** sum(s == 2 for _, _, s in PAPER.layout(size)[: i + 1]) for i in range(PAPER.num_blocks)]
        print(f"   {size}x{size}: " + " ".join(str(s) for s in sizes))

    print("2. one supernet path vs the stand-alone network of that path, weights copied, at init")
    path = Path.sample(random.Random(3), PAPER.num_blocks)
    model = supernet(PAPER)
    single = ShuffleNetOneShot(1, 10, 8, path)
    blocks = {f"blocks.{i}.": f"blocks.{i}.{c}." for i, c in enumerate(path.blocks)}
    state = {}
    for name in single.state_dict():
        source = next((name.replace(k, v, 1) for k, v in blocks.items() if name.startswith(k)), name)
        state[name] = model.state_dict().get(source, single.state_dict()[name])  # affine BN: weight 1, bias 0
    single.load_state_dict(state)
    model.train(), single.train()
    with torch.no_grad():
        difference = (model(x, path) - single(x)).abs().max().item()
    print(f"   max |supernet(path) - network(path)| = {difference:.3g}")

    print("3. amplification of a relative perturbation at block b, measured at the head (at init)")
    for size in (8, 16, 32):
        sized = DigitsDataModule(image_size=size, batch_size=64)
        sized.setup("fit")
        xs, _ = next(batches(sized))
        gains = amplification(supernet(PAPER, size), xs, Path((0,) * PAPER.num_blocks))
        print(f"   paper space {size}x{size}: " + " ".join(f"{g:.1f}" for g in gains))
    gains = amplification(supernet(DIGITS), x, Path((0,) * DIGITS.num_blocks))
    print("   digits space 8x8:  " + " ".join(f"{g:.1f}" for g in gains))

    print("4. per block at init (paper space, 8x8, all-shuffle3x3 path): activation RMS, ||grad||/||w|| (1st conv)")
    model = supernet(PAPER)
    model.train()
    path = Path((0,) * PAPER.num_blocks)
    xs, ys = next(batches(data))
    outputs = block_outputs(model, xs, path)
    F.cross_entropy(model.classifier(model.head(outputs[-1])), ys).backward()
    for index, h in enumerate(outputs):
        weight = model.blocks[index][0].branch[0].conv.weight
        ratio = (weight.grad.norm() / weight.norm()).item()
        print(f"   block {index:2d}: rms {h.pow(2).mean().sqrt().item():.3f}, grad/weight {ratio:.3f}")

    print(f"5. sampled-path training accuracy per quarter of {args.steps} steps (lr 0.1, batch 64)")
    tied = supernet(PAPER)
    for ops in tied.blocks:  # four copies of the 3x3 op: every path computes the same function at init
        for index in range(1, len(ops)):
            ops[index] = copy.deepcopy(ops[0])
    variants = [
        ("paper space, 20 blocks, uniform paths", supernet(PAPER), uniform(PAPER)),
        ("paper space, 20 blocks, one fixed path", supernet(PAPER), lambda rng: Path((0,) * PAPER.num_blocks)),
        ("paper space, 20 blocks, uniform over four 3x3 copies equal at init", tied, uniform(PAPER)),
        ("20 blocks at widths 32-256, uniform paths", supernet(NARROW_PAPER), uniform(NARROW_PAPER)),
        ("8 blocks at widths 32-256, uniform paths", supernet(EIGHT), uniform(EIGHT)),
        ("digits space, 5 blocks, uniform paths", supernet(DIGITS), uniform(DIGITS)),
    ]
    for name, model, draw in variants:
        started = time.perf_counter()
        curve = train(model, data, args.steps, draw)
        after = amplification(model, x, draw(random.Random(9)))[0]
        print(
            f"   {name}: "
            + " -> ".join(f"{a:.3f}" for a in curve)
            + f"  (block-0 amplification after training {after:.1f}; {time.perf_counter() - started:.0f} s)"
        )

    print("6. trained accuracy of 10 random architectures of the digits space, two seeds each")
    architecture_signal(data)


if __name__ == "__main__":
    main()
