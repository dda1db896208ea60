"""Meta-Upscale peak memory and time: slimkit's (weights once per distinct offset pair, bounded chunks) vs the
official algorithm done per pixel (one predicted 576x3 matrix and one 576-vector patch per output pixel), same
weights, same random 64-channel features, side by side in one run; then the whole Meta-RDN (config B)
inference at LR 256x256 and 512x512 x4, the sizes at which the official code was measured on an H100
(78 ms and 16.4 GiB at 256 x4; 512 x4 would need ~66 GiB; docs/results/benchmarks.md).

GPU: peak = torch.cuda.max_memory_allocated above what was allocated before the call. CPU: every measurement
runs in its own process and peak = the growth of its maximum resident set size during the call.

    python benchmarks/metasr_memory.py                      # GPU: LR 128 and 256, x2 / x3.5 / x4, + Meta-RDN
    python benchmarks/metasr_memory.py --sizes 32 64        # CPU: smaller inputs
Writes benchmarks/results/metasr_memory.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from contextlib import nullcontext
from datetime import date
from pathlib import Path

import torch

from slimkit.models.meta_sr import MetaRDN
from slimkit.models.meta_upscale import MetaUpscale, meta_upscale_per_pixel

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = 64


def measure(kind: str, size: int, scale: float, device: str, bf16: bool = False, repeats: int = 3) -> dict:
    """Peak bytes and median seconds of one forward (no grad)."""
    torch.manual_seed(0)
    autocast = torch.autocast(device, dtype=torch.bfloat16) if bf16 else nullcontext()
    if kind == "meta_rdn":
        model = MetaRDN(config="B").to(device).eval()
        inputs = torch.rand(1, 3, size, size, device=device)

        def call() -> torch.Tensor:
            return model(inputs, scale)
    else:
        upscale = MetaUpscale(CHANNELS).to(device)
        inputs = torch.randn(1, CHANNELS, size, size, device=device)

        def call() -> torch.Tensor:
            if kind == "slimkit":
                return upscale(inputs, scale)
            return meta_upscale_per_pixel(inputs, scale, upscale.predict)

    synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    with torch.no_grad(), autocast:
        if device == "cpu":  # the resident-set high-water mark: taken before any call
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        call()  # warm-up (cuDNN, allocator)
        synchronize()
        if device == "cuda":
            torch.cuda.empty_cache()
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            output = call()
            synchronize()
            times.append(time.perf_counter() - started)
            del output
        if device == "cuda":
            peak = torch.cuda.max_memory_allocated() - before
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return {"peak_mib": round(peak / 2**20, 1), "ms": round(1000 * sorted(times)[len(times) // 2], 2)}


def measure_isolated(kind: str, size: int, scale: float, device: str, bf16: bool = False) -> dict:
    """On the CPU, each measurement in a fresh process (the resident-set peak never goes down)."""
    if device == "cuda":
        return measure(kind, size, scale, device, bf16)
    folder = str(Path(__file__).parent)
    code = (
        f"import json, sys; sys.path.insert(0, {folder!r}); from metasr_memory import measure; "
        f"print(json.dumps(measure({kind!r}, {size}, {scale!r}, 'cpu', {bf16!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", help="LR sides (default: 128 256 on GPU, 32 64 on CPU)")
    parser.add_argument("--scales", type=float, nargs="*", default=[2.0, 3.5, 4.0])
    parser.add_argument("--skip-model", action="store_true", help="only the upscale modules")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "metasr_memory.json")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    sizes = args.sizes or ([128, 256] if device == "cuda" else [32, 64])
    rows = []
    for size in sizes:
        for scale in args.scales:
            row = {"lr": size, "scale": scale}
            for kind in ("slimkit", "per_pixel"):
                row[kind] = measure_isolated(kind, size, scale, device)
            row["memory_ratio"] = round(row["per_pixel"]["peak_mib"] / max(row["slimkit"]["peak_mib"], 1e-3), 1)
            row["speedup"] = round(row["per_pixel"]["ms"] / max(row["slimkit"]["ms"], 1e-6), 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    model_rows = []
    if device == "cuda" and not args.skip_model:
        for size in (256, 512):
            for bf16 in (False, True):
                row = {"lr": size, "scale": 4.0, "precision": "bf16" if bf16 else "fp32"}
                row |= measure("meta_rdn", size, 4.0, device, bf16)
                model_rows.append(row)
                print(json.dumps(row), flush=True)
    result = {
        "date": date.today().isoformat(),
        "device": torch.cuda.get_device_name() if device == "cuda" else f"{platform.machine()} CPU",
        "torch": torch.__version__,
        "channels": CHANNELS,
        "upscale": rows,
        "meta_rdn_b_inference": model_rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
