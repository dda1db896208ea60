"""MetaPruning PruningNet training throughput: images/s of MobileNetV2 PruningNet steps (a random structure
every step, weights generated and cropped), synthetic data.

Side by side in one run, on one network: the official MobileNetV2 PruningNet (241,985,558 parameters at 1000
classes; the benchmark checks both builds have that count), same batch, same label smoothing:
- ``official_as_shipped``: the official training step re-implemented (``official_metapruning_step.py``: the
  official modules, host-built generator inputs, every conv through cuDNN, its loss, optimizer and per-step
  progress reads), fp32, ``cudnn.benchmark`` on as shipped (every new conv shape is autotuned again);
- ``official_benchmark_off``: the same with autotuning off (the official code's best);
- ``slimkit_fp32``: slimkit's PruningNet (``model=mobilenet_v2``'s default layout, block-level generator
  inputs) and its step (autotuning off as ``method=metapruning`` sets it, stride-1 1x1 convs as matrix
  products: no cuDNN plan per new shape, gradients set to None);
- ``slimkit_tf32``: that with the matrix products in TF32, the precision cuDNN gives every official conv
  (PyTorch allows TF32 in cuDNN convs by default, not in matrix products), as ``method=metapruning`` trains
  (``conv_precision_for_matmuls``; GPU only);
- ``slimkit_bf16_cl``: that in bf16 autocast with channels_last activations (GPU only).
Every variant runs in its own process: PyTorch caches cuDNN's algorithm choice per conv shape, so a variant run
after another on the same structures would find every shape already chosen (that made a second variant look
1.6x faster on an H100). Goal on a GPU at batch 256, 224x224: slimkit >= 2x ``official_benchmark_off``. Writes
benchmarks/results/metapruning_throughput.json.

    python benchmarks/metapruning_throughput.py                    # GPU: batch 256, 224x224
    python benchmarks/metapruning_throughput.py --size 64 --batch 8 --steps 3 --warmup 1   # a CPU run
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from official_metapruning_step import OfficialPruningNet, OfficialStep  # noqa: E402

from slimkit.methods.metapruning import PruningNet, choice_for_step  # noqa: E402
from slimkit.methods.metapruning.pruningnet import conv_precision_for_matmuls  # noqa: E402
from slimkit.models.channel_spec import mobilenet_v2_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def parameters(net: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in net.parameters())


def official_step(device: torch.device) -> tuple[Callable[[int, torch.Tensor, torch.Tensor], object], int]:
    net = OfficialPruningNet().to(device).train()
    step = OfficialStep(net)
    return lambda _, inputs, labels: step(inputs, labels), parameters(net)


def slimkit_step(
    variant: str, size: int, device: torch.device
) -> tuple[Callable[[int, torch.Tensor, torch.Tensor], None], int]:
    net = PruningNet(mobilenet_v2_spec(3, 1000, size)).to(device).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.25, momentum=0.9)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if variant == "slimkit_bf16_cl" else nullcontext()

    def step(index: int, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        with autocast:
            logits = net(inputs, choice_for_step(0, index, net.gene_choices))
            loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, parameters(net)


def run(variant: str, batch: int, size: int, steps: int, warmup: int, device: torch.device) -> dict[str, float]:
    """Images per second over ``steps`` timed steps, seconds of the ``warmup`` untimed steps before them, and
    the network's parameter count. The as-shipped variant re-benchmarks nearly every step (seconds each on a
    GPU): it runs 1 warm-up and 4 timed."""
    if variant == "official_as_shipped":
        steps, warmup = min(steps, 4), min(warmup, 1)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = variant == "official_as_shipped"
    official = variant.startswith("official")
    step, count = official_step(device) if official else slimkit_step(variant, size, device)
    inputs = torch.randn(batch, 3, size, size, device=device)
    if variant == "slimkit_bf16_cl":
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 1000, (batch,), device=device)
    # slimkit_tf32 as method=metapruning trains; the others with PyTorch's default (no TF32 in matrix products)
    precision = conv_precision_for_matmuls() if variant == "slimkit_tf32" else nullcontext()
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with precision:
        started = time.perf_counter()
        for index in range(warmup):
            step(10_000 + index, inputs, labels)
        synchronize()
        warmed = time.perf_counter()
        for index in range(steps):
            step(index, inputs, labels)
        synchronize()
    rate = batch * steps / (time.perf_counter() - warmed)
    return {"images_per_s": rate, "warmup_s": warmed - started, "parameters": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--variants", nargs="*", help="a subset, e.g. to skip the slow official_as_shipped")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one variant in this process
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "metapruning_throughput.json")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    variants = ["official_as_shipped", "official_benchmark_off", "slimkit_fp32"]
    if device.type == "cuda":
        variants += ["slimkit_tf32", "slimkit_bf16_cl"]
    variants = [variant for variant in variants if not args.variants or variant in args.variants]
    if args.one:
        print(json.dumps(run(args.one, args.batch, args.size, args.steps, args.warmup, device)))
        return
    measured = {}
    for variant in variants:  # one line each as it finishes, each in a fresh process
        command = [sys.executable, __file__, "--one", variant, "--batch", str(args.batch), "--size", str(args.size)]
        command += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        measured[variant] = json.loads(output.strip().splitlines()[-1])
        figures = measured[variant]
        print(
            f"{variant}: {figures['images_per_s']:.1f} img/s (warm-up {figures['warmup_s']:.1f} s, "
            f"{figures['parameters']:,} parameters)",
            flush=True,
        )
    counts = {figures["parameters"] for figures in measured.values()}
    if len(counts) != 1:
        raise SystemExit(f"the variants built different networks: {sorted(counts)} parameters")
    rates = {variant: figures["images_per_s"] for variant, figures in measured.items()}
    baseline = rates.get("official_benchmark_off", next(iter(rates.values())))
    result = {
        "date": date.today().isoformat(),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"{platform.machine()} CPU",
        "torch": torch.__version__,
        "batch": args.batch,
        "size": args.size,
        "steps": args.steps,
        "parameters": counts.pop(),
        "images_per_s": {variant: round(rate, 1) for variant, rate in rates.items()},
        "ratio_vs_official_best": {variant: round(rate / baseline, 3) for variant, rate in rates.items()},
        "warmup_s": {variant: round(figures["warmup_s"], 1) for variant, figures in measured.items()},
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
