"""Exact 1-D k-means: slimkit's DP quantizer against the public tools ckmeans (Rust) and
ckmeans-1d-dp (C++), same data (float64 normal), each run in a fresh process so its peak memory
(max RSS above the process's baseline with the data loaded) is its own. Reports seconds, peak MB,
SSE agreement and ratios. Writes benchmarks/results/dp_quantizer.json.

    python benchmarks/dp_quantizer.py --sizes 100000:16 100000:255 1000000:16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("slimkit", "ckmeans", "ckmeans_1d_dp")


def run_tool(tool: str, values: np.ndarray, k: int) -> float:
    """The SSE the tool reports for the optimal k-clustering of ``values``."""
    if tool == "slimkit":
        import torch

        from slimkit.quant import optimal_codebook

        return optimal_codebook(torch.from_numpy(values), k).sse
    if tool == "ckmeans":
        import ckmeans

        clusters = ckmeans.ckmeans(values, k)  # the clusters themselves, sorted
        return float(sum(((np.asarray(c) - np.mean(c)) ** 2).sum() for c in clusters))
    from ckmeans_1d_dp import ckmeans as ckmeans_1d_dp

    return float(ckmeans_1d_dp(values, (k, k)).tot_withinss)


def worker(tool: str, n: int, k: int, seed: int) -> None:
    values = np.random.default_rng(seed).normal(size=n)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    sse = run_tool(tool, values, k)
    seconds = time.perf_counter() - started
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024
    print(json.dumps({"tool": tool, "n": n, "k": k, "seconds": seconds, "peak_mb": peak_mb, "sse": sse}))


def measure(tool: str, n: int, k: int, seed: int, timeout: float) -> dict:
    command = [sys.executable, __file__, "--worker", tool, str(n), str(k), str(seed)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"tool": tool, "n": n, "k": k, "error": f"timeout {timeout:.0f} s"}
    if done.returncode != 0:
        return {"tool": tool, "n": n, "k": k, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["100000:16", "100000:255", "1000000:16"], help="n:k pairs")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tool, n, k, seed = args.worker
        worker(tool, int(n), int(k), int(seed))
        return
    rows = []
    print("| n | k | tool | seconds | peak MB | SSE | time / slimkit's | memory / slimkit's |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        n, k = (int(float(part)) for part in size.split(":"))
        results = [measure(tool, n, k, seed=0, timeout=args.timeout) for tool in TOOLS]
        ours = results[0]
        for result in results:
            if "error" in result:
                print(f"| {n} | {k} | {result['tool']} | {result['error']} | | | | |")
                continue
            time_ratio = result["seconds"] / ours["seconds"] if "seconds" in ours else float("nan")
            memory_ratio = result["peak_mb"] / max(ours.get("peak_mb", 0), 1e-9)
            result.update(time_ratio_vs_slimkit=round(time_ratio, 3), memory_ratio_vs_slimkit=round(memory_ratio, 3))
            print(
                f"| {n} | {k} | {result['tool']} | {result['seconds']:.2f} | {result['peak_mb']:.0f} | "
                f"{result['sse']:.10g} | {time_ratio:.2f} | {memory_ratio:.2f} |"
            )
        rows += results
    out = ROOT / "benchmarks" / "results" / "dp_quantizer.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    out.write_text(json.dumps({"date": date.today().isoformat(), "machine": machine, "rows": rows}, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
