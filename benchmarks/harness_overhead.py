"""Harness overhead: Lightning training (as slimkit runs it) vs a plain PyTorch loop.

Same model (CIFAR ResNet-20), same digits data at 32x32, same optimizer, same number of steps,
both on the CPU, alternated and repeated; reports images/s of each and their ratio (goal >= 0.9).
Also times ``python train.py --cfg job`` (goal < 3 s). Writes benchmarks/results/harness_overhead.json.

    python benchmarks/harness_overhead.py [--steps 60] [--repeats 3] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F

from slimkit.callbacks import CheckpointOnSignal, RNGStateInCheckpoint
from slimkit.data import DigitsDataModule
from slimkit.loggers import ResumableCSVLogger
from slimkit.methods.classification import ClassificationModule
from slimkit.models import CifarResNet

ROOT = Path(__file__).resolve().parents[1]


def make_optimizer(parameters) -> torch.optim.Optimizer:
    return torch.optim.SGD(parameters, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)


def plain_loop(datamodule: DigitsDataModule, steps: int) -> float:
    """Seconds for ``steps`` optimisation steps of a hand-written loop."""
    torch.manual_seed(0)
    model = CifarResNet(1, 10, 32, depth=20)
    optimizer = make_optimizer(model.parameters())
    model.train()
    started, done = time.perf_counter(), 0
    while done < steps:
        for inputs, labels in datamodule.train_dataloader():
            loss = F.cross_entropy(model(inputs), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps:
                break
    return time.perf_counter() - started


def lightning_loop(datamodule: DigitsDataModule, steps: int, output_dir: Path) -> float:
    """Seconds for ``steps`` steps of Trainer.fit with slimkit's logger and resume callbacks."""
    torch.manual_seed(0)
    module = ClassificationModule(CifarResNet(1, 10, 32, depth=20), 10, make_optimizer)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        limit_val_batches=0,
        logger=ResumableCSVLogger(str(output_dir), name="", version=""),
        callbacks=[RNGStateInCheckpoint(), CheckpointOnSignal(str(output_dir / "checkpoints"))],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=10,
        deterministic=True,
    )
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    return time.perf_counter() - started


def cfg_job_seconds(repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "train.py", "--cfg", "job"], cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    datamodule = DigitsDataModule(image_size=32, batch_size=args.batch_size)
    datamodule.setup()
    plain_loop(datamodule, 5)  # warm up kernels and allocator once for both
    plain_times, lightning_times = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            plain_times.append(plain_loop(datamodule, args.steps))
            lightning_times.append(lightning_loop(datamodule, args.steps, Path(scratch) / str(repeat)))
    images = args.steps * args.batch_size
    plain_ips = images / statistics.median(plain_times)
    lightning_ips = images / statistics.median(lightning_times)
    results = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "model": "CifarResNet-20 on digits 32x32",
        "steps": args.steps,
        "batch_size": args.batch_size,
        "plain_images_per_s": round(plain_ips, 1),
        "lightning_images_per_s": round(lightning_ips, 1),
        "throughput_ratio": round(lightning_ips / plain_ips, 3),
        "cfg_job_seconds": round(cfg_job_seconds(5), 2),
    }
    out = ROOT / "benchmarks" / "results" / "harness_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("| loop | images/s |\n|---|---|")
    print(f"| plain PyTorch | {results['plain_images_per_s']} |")
    print(f"| slimkit (Lightning) | {results['lightning_images_per_s']} |")
    print(f"throughput ratio (Lightning / plain): {results['throughput_ratio']}  (goal >= 0.9)")
    print(f"`python train.py --cfg job`: {results['cfg_job_seconds']} s  (goal < 3 s)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
