"""MetaPruning PruningNet training throughput: images/s of MobileNetV2 PruningNet steps (a random structure
every step, weights generated and cropped), synthetic data.

Side by side in one run, same PruningNet (width 1.4, the paper's), same structures, same batch:
- ``official_as_shipped``: fp32, ``cudnn.benchmark`` on (every new conv shape is autotuned again; the official
  code ran 79 img/s on an H100 that way), gradients zeroed to zeros;
- ``official_benchmark_off``: the same with autotuning off (the official code's best, 887 img/s);
- ``slimkit_fp32``: slimkit's step (autotuning off as ``method=metapruning`` sets it, stride-1 1x1 convs as
  matrix products: no cuDNN plan per new shape, gradients set to None);
- ``slimkit_tf32``: that with the matrix products in TF32, the precision cuDNN gives every official conv
  (PyTorch allows TF32 in cuDNN convs by default, not in matrix products), as ``method=metapruning`` trains
  (``conv_precision_for_matmuls``; GPU only);
- ``slimkit_bf16_cl``: that in bf16 autocast with channels_last activations (GPU only).
The structures come from ``slimkit.methods.metapruning.choice_for_step`` (seed 0). Every variant runs in its own
process: PyTorch caches cuDNN's algorithm choice per conv shape, so a variant run after another on the same
structures would find every shape already chosen (that made a second variant look 1.6x faster on an H100).
Goal on an H100 at batch 256, 224x224: >= 1,800 img/s (2x the official best). Writes
benchmarks/results/metapruning_throughput.json.

    python benchmarks/metapruning_throughput.py                    # GPU: batch 256, 224x224
    python benchmarks/metapruning_throughput.py --size 32 --batch 16 --steps 3 --warmup 1   # a CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from contextlib import nullcontext
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

from slimkit.methods.metapruning import PruningNet, choice_for_step
from slimkit.methods.metapruning.pruningnet import conv_precision_for_matmuls
from slimkit.models.channel_spec import mobilenet_v2_spec

ROOT = Path(__file__).resolve().parents[1]


def run(variant: str, batch: int, size: int, steps: int, warmup: int, device: torch.device) -> tuple[float, float]:
    """(images per second over ``steps`` timed steps, seconds of the ``warmup`` untimed steps before them).
    The as-shipped variant re-benchmarks nearly every step (seconds each): it runs 1 warm-up and 4 timed."""
    if variant == "official_as_shipped":
        steps, warmup = min(steps, 4), min(warmup, 1)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = variant == "official_as_shipped"
    spec = mobilenet_v2_spec(3, 1000, size, width_mult=1.4)
    net = PruningNet(spec, pointwise_matmul=variant.startswith("slimkit")).to(device)  # the official: all convs
    optimizer = torch.optim.SGD(net.parameters(), lr=0.25, momentum=0.9, weight_decay=4e-5)
    bf16 = variant == "slimkit_bf16_cl"
    inputs = torch.randn(batch, 3, size, size, device=device)
    if bf16:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 1000, (batch,), device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()

    def step(index: int) -> None:
        with autocast:
            logits = net(inputs, choice_for_step(0, index, net.gene_choices))
            loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=variant.startswith("slimkit"))
        loss.backward()
        optimizer.step()

    # slimkit_tf32 as method=metapruning trains; the others with PyTorch's default (no TF32 in matrix products)
    precision = conv_precision_for_matmuls() if variant == "slimkit_tf32" else nullcontext()
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with precision:
        started = time.perf_counter()
        for index in range(warmup):
            step(10_000 + index)
        synchronize()
        warmed = time.perf_counter()
        for index in range(steps):
            step(index)
        synchronize()
    return batch * steps / (time.perf_counter() - warmed), warmed - started


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
        measured[variant] = tuple(json.loads(output.strip().splitlines()[-1]))
        print(f"{variant}: {measured[variant][0]:.1f} img/s (warm-up {measured[variant][1]:.1f} s)", flush=True)
    rates = {variant: rate for variant, (rate, _) in measured.items()}
    baseline = rates.get("official_benchmark_off", next(iter(rates.values())))
    result = {
        "date": date.today().isoformat(),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"{platform.machine()} CPU",
        "torch": torch.__version__,
        "batch": args.batch,
        "size": args.size,
        "steps": args.steps,
        "images_per_s": {variant: round(rate, 1) for variant, rate in rates.items()},
        "ratio_vs_official_best": {variant: round(rate / baseline, 3) for variant, rate in rates.items()},
        "warmup_s": {variant: round(seconds, 1) for variant, (_, seconds) in measured.items()},
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
