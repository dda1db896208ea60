"""Exact 1-D k-means: slimkit's DP quantizer against the public tools ckmeans (Rust) and
ckmeans-1d-dp (C++), same data (float64 normal), each run in a fresh process so its peak memory
(max RSS above the process's baseline with the data loaded, imports and the first call included) is
its own. Each worker first makes one small call (imports; for slimkit, numba loading its compiled
kernels from the cache) and reports it apart, then times the real call. slimkit's JIT compile time
is measured once more with an empty numba cache. Reports seconds, peak MB, SSE agreement and ratios,
and per size the ratios against the faster public tool; with CUDA, slimkit alone on the GPU at
--cuda-sizes. Writes benchmarks/results/dp_quantizer.json.

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
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("slimkit", "ckmeans", "ckmeans_1d_dp")
PUBLIC = TOOLS[1:]
SIZES = ["100000:16", "100000:255", "1000000:16", "1000000:255", "4000000:16", "4000000:255"]
CUDA_SIZES = ["40000000:256"]


def run_tool(tool: str, values: np.ndarray, k: int, device: str) -> float:
    """The SSE the tool reports for the optimal k-clustering of ``values``."""
    if tool == "slimkit":
        import torch

        from slimkit.quant import optimal_codebook

        sse = optimal_codebook(torch.from_numpy(values).to(device), k).sse
        if device != "cpu":
            torch.cuda.synchronize()
        return sse
    if tool == "ckmeans":
        import ckmeans

        clusters = ckmeans.ckmeans(values, k)  # the clusters themselves, sorted
        return float(sum(((np.asarray(c) - np.mean(c)) ** 2).sum() for c in clusters))
    from ckmeans_1d_dp import ckmeans as ckmeans_1d_dp

    return float(ckmeans_1d_dp(values, (k, k)).tot_withinss)


def worker(tool: str, n: int, k: int, seed: int, device: str) -> None:
    values = np.random.default_rng(seed).normal(size=n)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    run_tool(tool, values[:1000], min(k, 8), device)  # imports, numba's kernels from the cache (or JIT)
    first_call = time.perf_counter() - started
    if device != "cpu":
        import torch

        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    sse = run_tool(tool, values, k, device)
    seconds = time.perf_counter() - started
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024
    result = {"tool": tool, "n": n, "k": k, "device": device, "seconds": seconds, "first_call_seconds": first_call}
    result.update(peak_mb=peak_mb, sse=sse)
    if device != "cpu":
        import torch

        result.update(gpu=torch.cuda.get_device_name(), gpu_peak_mb=torch.cuda.max_memory_allocated() / 2**20)
    print(json.dumps(result))


def measure(tool: str, n: int, k: int, seed: int, timeout: float, device: str = "cpu", env: dict | None = None) -> dict:
    command = [sys.executable, __file__, "--worker", tool, str(n), str(k), str(seed), device]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"tool": tool, "n": n, "k": k, "device": device, "error": f"timeout {timeout:.0f} s"}
    if done.returncode != 0:
        error = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return {"tool": tool, "n": n, "k": k, "device": device, "error": error}
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_sizes(sizes: list[str]) -> list[tuple[int, int]]:
    return [tuple(int(float(part)) for part in size.split(":")) for size in sizes]


def compile_time(timeout: float) -> dict:
    """slimkit's first call with an empty numba cache: import + JIT compile of the kernels."""
    with tempfile.TemporaryDirectory() as cache:
        cold = measure("slimkit", 1000, 8, 0, timeout, env={**os.environ, "NUMBA_CACHE_DIR": cache})
    measure("slimkit", 1000, 8, 0, timeout)  # fills the project's own cache for the runs below
    return cold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=SIZES, help="n:k pairs")
    parser.add_argument("--cuda-sizes", nargs="*", default=CUDA_SIZES, help="n:k pairs for slimkit on CUDA")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tool, n, k, seed, device = args.worker
        worker(tool, int(n), int(k), int(seed), device)
        return
    cold = compile_time(args.timeout)
    rows = []
    print("| n | k | tool | seconds | first call s | peak MB | SSE | time / slimkit's | memory / slimkit's |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, k in parse_sizes(args.sizes):
        results = [measure(tool, n, k, seed=0, timeout=args.timeout) for tool in TOOLS]
        ours = results[0]
        for result in results:
            if "error" in result:
                print(f"| {n} | {k} | {result['tool']} | {result['error']} | | | | | |")
                continue
            time_ratio = result["seconds"] / ours["seconds"] if "seconds" in ours else float("nan")
            memory_ratio = result["peak_mb"] / max(ours.get("peak_mb", 0), 1e-9)
            result.update(time_ratio_vs_slimkit=round(time_ratio, 3), memory_ratio_vs_slimkit=round(memory_ratio, 3))
            print(
                f"| {n} | {k} | {result['tool']} | {result['seconds']:.2f} | {result['first_call_seconds']:.2f} | "
                f"{result['peak_mb']:.0f} | {result['sse']:.10g} | {time_ratio:.2f} | {memory_ratio:.2f} |"
            )
        rows += results
    summary = summarize(rows)
    print()
    print("| n | k | faster public tool | its s | slimkit s | speed-up | its MB | slimkit MB | memory ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in summary:
        print(
            f"| {row['n']} | {row['k']} | {row['tool']} | {row['seconds']:.2f} | {row['slimkit_seconds']:.2f} | "
            f"{row['speedup']:.1f}x | {row['peak_mb']:.0f} | {row['slimkit_peak_mb']:.0f} | "
            f"{row['memory_ratio']:.1f}x |"
        )
    print()
    cold_text = cold.get("error") or f"{cold['first_call_seconds']:.2f} s"
    print(f"slimkit first call with an empty numba cache (imports + JIT compile): {cold_text}")
    cuda_rows = cuda_runs(args.cuda_sizes, args.timeout)
    out = ROOT / "benchmarks" / "results" / "dp_quantizer.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    report = {"date": date.today().isoformat(), "machine": machine, "rows": rows, "vs_faster_public_tool": summary}
    report.update(slimkit_cold_compile=cold, cuda_rows=cuda_rows)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {out}")


def summarize(rows: list[dict]) -> list[dict]:
    """Per size: the faster public tool's time and memory against slimkit's."""
    summary = []
    for n, k in dict.fromkeys((row["n"], row["k"]) for row in rows):
        here = {row["tool"]: row for row in rows if (row["n"], row["k"]) == (n, k) and "error" not in row}
        public = [here[tool] for tool in PUBLIC if tool in here]
        if "slimkit" not in here or not public:
            continue
        ours, faster = here["slimkit"], min(public, key=lambda row: row["seconds"])
        summary.append(
            {
                "n": n,
                "k": k,
                "tool": faster["tool"],
                "seconds": faster["seconds"],
                "peak_mb": faster["peak_mb"],
                "slimkit_seconds": ours["seconds"],
                "slimkit_peak_mb": ours["peak_mb"],
                "speedup": faster["seconds"] / ours["seconds"],
                "memory_ratio": faster["peak_mb"] / max(ours["peak_mb"], 1e-9),
            }
        )
    return summary


def cuda_runs(sizes: list[str], timeout: float) -> list[dict]:
    """slimkit alone on the GPU (torch divide and conquer), where CUDA is available."""
    import torch

    if not sizes or not torch.cuda.is_available():
        print("CUDA: not available, GPU sizes skipped")
        return []
    rows = [measure("slimkit", n, k, seed=0, timeout=timeout, device="cuda") for n, k in parse_sizes(sizes)]
    print()
    print("| n | k | device | seconds | first call s | GPU peak MB | SSE |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        if "error" in row:
            print(f"| {row['n']} | {row['k']} | cuda | {row['error']} | | | |")
        else:
            print(
                f"| {row['n']} | {row['k']} | {row['gpu']} | {row['seconds']:.2f} | {row['first_call_seconds']:.2f} | "
                f"{row['gpu_peak_mb']:.0f} | {row['sse']:.10g} |"
            )
    return rows


if __name__ == "__main__":
    main()
