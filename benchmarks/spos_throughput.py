"""SPOS supernet training throughput: images/s of uniform single-path training steps, synthetic data.

Side by side in one run, same supernet, same paths, same batch:
- ``official``: the official loop's per-step work: fp32, NCHW, ``zero_grad()`` to zeros and then its scan
  ``if p.grad is not None and p.grad.sum() == 0: p.grad = None`` over every parameter (one sum each);
- ``slimkit_fp32``: slimkit's step: fp32, gradients set to None (unsampled ops never get one, no scan);
- ``slimkit_bf16_cl``: the same in bf16 autocast with channels_last tensors (GPU only);
- ``slimkit_bf16_cl_compiled``: that plus ``ShuffleNetSupernet.compile_ops()`` (``method.compile=true``): every
  candidate op compiled once (GPU only; the one-off compile time is reported).
Warm-up runs the four single-choice paths first (every op, so every
compile and cuDNN autotuning happens before timing), then random ones; the timed paths come from
``slimkit.methods.spos.path_for_step`` (seed 0). Goal on an H100 at batch 256, 224x224:
>= 3,400 img/s (2x the official 1,684 img/s fp32). Writes benchmarks/results/spos_throughput.json.

    python benchmarks/spos_throughput.py                       # GPU: batch 256, 224x224
    python benchmarks/spos_throughput.py --size 32 --batch 32 --steps 6 --warmup 2   # a CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from contextlib import nullcontext
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

from slimkit.methods.spos import path_for_step
from slimkit.models import ShuffleNetSupernet
from slimkit.models.shufflenet_supernet import BLOCK_CHOICES, ShuffleNetSpace
from slimkit.models.shufflenet_supernet import Path as SupernetPath

NUM_BLOCKS = ShuffleNetSpace().num_blocks

ROOT = Path(__file__).resolve().parents[1]


def run(variant: str, batch: int, size: int, steps: int, warmup: int, device: torch.device) -> tuple[float, float]:
    """(images per second over ``steps`` timed steps, seconds of the untimed warm-up before them)."""
    torch.manual_seed(0)
    model = ShuffleNetSupernet(3, 1000, size).to(device)
    channels_last = variant.startswith("slimkit_bf16_cl")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if variant.endswith("_compiled"):
        model.compile_ops()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=4e-5)
    inputs = torch.randn(batch, 3, size, size, device=device)
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 1000, (batch,), device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if channels_last else nullcontext()

    def step(path: SupernetPath) -> None:
        with autocast:
            loss = F.cross_entropy(model(inputs, path), labels, label_smoothing=0.1)
        if variant == "official":
            optimizer.zero_grad(set_to_none=False)
            loss.backward()
            for parameter in model.parameters():
                if parameter.grad is not None and parameter.grad.sum() == 0:
                    parameter.grad = None
        else:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        optimizer.step()

    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    started = time.perf_counter()
    for choice in range(len(BLOCK_CHOICES)):
        step(SupernetPath((choice,) * NUM_BLOCKS))
    for index in range(warmup):
        step(path_for_step(0, 10_000 + index, NUM_BLOCKS))
    synchronize()
    warmed = time.perf_counter()
    for index in range(steps):
        step(path_for_step(0, index, NUM_BLOCKS))
    synchronize()
    return batch * steps / (time.perf_counter() - warmed), warmed - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5, help="random-path steps after the four single-choice ones")
    parser.add_argument("--compile", action="store_true", help="on CPU, also the compiled fp32 variant (slow)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "spos_throughput.json")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    variants = ["official", "slimkit_fp32"]
    if device.type == "cuda":
        variants += ["slimkit_bf16_cl", "slimkit_bf16_cl_compiled"]
    elif args.compile:
        variants += ["slimkit_fp32_compiled"]
    measured = {}
    for variant in variants:  # one line each as it finishes: a long compile cannot hide the others' figures
        measured[variant] = run(variant, args.batch, args.size, args.steps, args.warmup, device)
        print(f"{variant}: {measured[variant][0]:.1f} img/s (warm-up {measured[variant][1]:.1f} s)", flush=True)
    rates = {variant: rate for variant, (rate, _) in measured.items()}
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"{platform.machine()} CPU"
    result = {
        "date": date.today().isoformat(),
        "device": name,
        "torch": torch.__version__,
        "batch": args.batch,
        "size": args.size,
        "steps": args.steps,
        "images_per_s": {variant: round(rate, 1) for variant, rate in rates.items()},
        "ratio_vs_official": {variant: round(rate / rates["official"], 3) for variant, rate in rates.items()},
        "warmup_s": {variant: round(seconds, 1) for variant, (_, seconds) in measured.items()},
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
