"""Slurm sweep overhead: wall time from submitting a 20-job sweep to having all 20 results collected.

Runs ``-m hydra/launcher=slurm`` against the local cluster (``make slurm-up``) with the project's own
launcher and Hydra configs. The jobs are a no-op Hydra app (this file, run with ``app`` as its first
argument: it composes conf/train.yaml and returns at once), so the figure is the harness's
submit + schedule + start + collect overhead, not training. ``--train`` adds a second row: the same
sweep of real ``train.py trainer=debug`` jobs. Goal: the no-op sweep in under 60 s.
Times are seconds after the sweep command started: the submission script written (sbatch), the first
and last array task started (submitit's job logs), the last result written, all results collected
(the command exited). Writes benchmarks/results/slurm_sweep.json.

    python benchmarks/slurm_sweep.py [--jobs 20] [--train] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "slurm_sweep.json"
GOAL_S = 60.0
TIMEOUT_S = 600.0
LAUNCHER = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=10"]
STARTED = re.compile(r"submitit INFO \((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\) - Starting with")


def noop_app() -> None:
    """The job: a Hydra app over the project's config that returns immediately."""
    import hydra
    from omegaconf import DictConfig

    @hydra.main(version_base="1.3", config_path="../conf", config_name="train")
    def noop(cfg: DictConfig) -> float:
        return float(cfg.seed)

    noop()


def slurm_environment() -> dict[str, str]:
    conf = Path(os.environ.get("SLIMKIT_SLURM_DIR") or "/tmp/slimkit-slurm") / "slurm.conf"
    environment = {**os.environ, "SLURM_CONF": str(conf)}
    answer = subprocess.run(["sinfo", "-h", "-o", "%t"], env=environment, capture_output=True, text=True, timeout=15)
    if not conf.is_file() or answer.returncode != 0 or not answer.stdout.strip():
        sys.exit(f"local Slurm is not up ({conf}): run `make slurm-up`")
    return environment


def run_sweep(label: str, command: list[str], jobs: int, environment: dict[str, str], keep: bool) -> dict:
    """Run one sweep; seconds from submit to every result collected, and when the jobs started/ended."""
    sweep_dir = Path(tempfile.mkdtemp(prefix=f"slimkit-slurm-bench-{re.sub(r'[^a-z]+', '-', label)}-"))
    name = f"slimkit-bench-{os.getpid()}"
    full = [*command, f"seed=range({jobs})", *LAUNCHER, f"hydra.sweep.dir={sweep_dir}", f"hydra.launcher.name={name}"]
    started_at = time.time()
    started = time.perf_counter()
    try:
        finished = subprocess.run(full, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        subprocess.run(["scancel", "--name", name], env=environment)
        sys.exit(f"{label}: the sweep did not finish in {TIMEOUT_S:.0f} s (sweep dir {sweep_dir})")
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        tail = "\n".join(line for line in finished.stdout.splitlines() if "sacct" not in line)[-3000:]
        sys.exit(f"{label}: the sweep failed ({finished.returncode}):\n{tail}\n{finished.stderr[-3000:]}")
    results = sorted(sweep_dir.glob(".submitit/*_*/*_result.pkl"))
    if len(results) != jobs:
        sys.exit(f"{label}: {len(results)} results for {jobs} jobs in {sweep_dir}/.submitit")
    starts = []
    for log in sweep_dir.glob(".submitit/*_*/*_0_log.out"):
        match = STARTED.search(log.read_text())
        if match:
            starts.append(datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() - started_at)
    last_result = max(path.stat().st_mtime for path in results) - started_at
    submitted = min(path.stat().st_mtime for path in sweep_dir.glob(".submitit/*/*_submission.sh")) - started_at
    row = {
        "workload": label,
        "jobs": jobs,
        "submit_to_all_collected_s": round(wall, 1),
        "sbatch_s": round(submitted, 1),
        "first_job_started_s": round(min(starts), 1) if starts else None,
        "last_job_started_s": round(max(starts), 1) if starts else None,
        "last_result_written_s": round(last_result, 1),
        "array_ids": sorted({path.parent.name.split("_")[0] for path in results}),
    }
    if keep:
        row["sweep_dir"] = str(sweep_dir)
    else:
        shutil.rmtree(sweep_dir, ignore_errors=True)
    return row


def versions(environment: dict[str, str]) -> dict[str, str]:
    import hydra
    import submitit

    slurm = subprocess.run(["sinfo", "--version"], env=environment, capture_output=True, text=True).stdout.strip()
    return {"slurm": slurm, "submitit": submitit.__version__, "hydra": hydra.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--train", action="store_true", help="also time real train.py trainer=debug jobs")
    parser.add_argument("--keep", action="store_true", help="keep the sweep dirs (printed in the JSON)")
    args = parser.parse_args()
    environment = slurm_environment()

    rows = [run_sweep("noop", [sys.executable, __file__, "app", "-m"], args.jobs, environment, args.keep)]
    if args.train:
        train = [sys.executable, "train.py", "-m", "trainer=debug", "callbacks.progress_bar=null"]
        rows.append(run_sweep("train.py trainer=debug", train, args.jobs, environment, args.keep))

    report = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} threads",
        **versions(environment),
        "goal_s": GOAL_S,
        "goal_met": rows[0]["submit_to_all_collected_s"] < GOAL_S,
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")

    print(f"{report['machine']}, {report['slurm']}, submitit {report['submitit']}, hydra {report['hydra']}")
    print("| workload | jobs | submit -> all collected | sbatch | first job started | last job started | last result |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['workload']} | {row['jobs']} | {row['submit_to_all_collected_s']:.1f} s | {row['sbatch_s']} s "
            f"| {row['first_job_started_s']} s | {row['last_job_started_s']} s | {row['last_result_written_s']} s |"
        )
    verdict = "met" if report["goal_met"] else "NOT met"
    print(f"goal: no-op sweep under {GOAL_S:.0f} s: {verdict}; written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "app":
        del sys.argv[1]
        noop_app()
    else:
        main()
