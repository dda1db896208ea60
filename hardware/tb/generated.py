"""The Verilog of the accelerator, generated from the SpinalHDL sources in hardware/spinal by sbt: where it goes
(hardware/build/rtl/<configuration>/<top>/, one file per module, never committed), which designs `make hw-gen`
generates, and how. The simulations, the lint and the synthesis all read it from here; a design nobody
generated yet (a custom ArrayConfig) is generated on first use."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict
from pathlib import Path

from configs import LINT_EDGES, TEST_CONFIGS

from slimkit.accelerator import ArrayConfig
from slimkit.accelerator.builds import BUILDS, FITS_UP5K

HARDWARE = Path(__file__).resolve().parents[1]
SPINAL = HARDWARE / "spinal"
GENERATED = HARDWARE / "build" / "rtl"
SBT_VERSION = "1.10.7"  # also in hardware/spinal/project/build.properties
SBT_LAUNCHER = Path.home() / ".m2/repository/org/scala-sbt/sbt-launch" / SBT_VERSION / f"sbt-launch-{SBT_VERSION}.jar"
# sbt resolves from Maven Central only (no Ivy repositories of its own); its caches stay in the home directory
# (~/.sbt/boot, ~/.cache/coursier, ~/.m2), so a second checkout on the machine starts warm
SBT_OPTIONS = [
    f"-Dsbt.repository.config={SPINAL / 'repositories'}",
    "-Dsbt.override.build.repos=true",
    "-Dsbt.log.noformat=true",
    "-Dsbt.supershell=false",
    "-Dsbt.server.forcestart=false",
]

Design = tuple[ArrayConfig, str]  # (configuration, top module)


class GenerationError(RuntimeError):
    """sbt or the generator failed; the message says where its log is."""


def design_dir(config: ArrayConfig, top: str = "dpq_accel") -> Path:
    return GENERATED / config.name / top


def designs() -> list[Design]:
    """Every design the project checks: the named builds, the UP5K builds' FPGA shells, the test and lint sets."""
    listed = [(config, "dpq_accel") for config in BUILDS.values()]
    listed += [(BUILDS[name], "dpq_fpga_shell") for name in FITS_UP5K]
    listed += [(config, "dpq_accel") for config, _ in TEST_CONFIGS.values()]
    listed += [(config, "dpq_accel") for config in LINT_EDGES]
    unique: dict[tuple[str, str], Design] = {(config.name, top): (config, top) for config, top in listed}
    return list(unique.values())


def manifest(listed: list[Design]) -> str:
    """The generator's input: one line per design, `out=<dir> top=<module>` and ArrayConfig's fields."""
    lines = []
    for config, top in listed:
        fields = " ".join(f"{name}={value}" for name, value in asdict(config).items())
        lines.append(f"out={design_dir(config, top)} top={top} {fields}")
    return "\n".join(lines) + "\n"


def sources_digest() -> str:
    """A hash of everything the generated Verilog depends on besides the manifest: the Scala build."""
    digest = hashlib.sha256()
    files = [SPINAL / "build.sbt", SPINAL / "project" / "build.properties", *sorted(SPINAL.glob("src/**/*.scala"))]
    for path in files:
        digest.update(path.relative_to(SPINAL).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _stamp(config: ArrayConfig, top: str) -> Path:
    return design_dir(config, top) / ".generated-from"


def up_to_date(config: ArrayConfig, top: str, digest: str) -> bool:
    stamp = _stamp(config, top)
    return stamp.exists() and stamp.read_text() == digest and (design_dir(config, top) / f"{top}.v").exists()


def ensure_launcher() -> Path:
    """The sbt launcher jar, fetched by name from Maven Central with Maven's dependency plugin the first time."""
    needed = ("java",) if SBT_LAUNCHER.exists() else ("java", "mvn")
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        raise GenerationError(f"{' and '.join(missing)} not found: SpinalHDL needs a JDK (17) and Maven")
    if SBT_LAUNCHER.exists():
        return SBT_LAUNCHER
    command = ["mvn", "-q", "-B", "dependency:get", f"-Dartifact=org.scala-sbt:sbt-launch:{SBT_VERSION}"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not SBT_LAUNCHER.exists():
        raise GenerationError(f"could not fetch the sbt launcher with Maven:\n{(done.stdout + done.stderr)[-2000:]}")
    return SBT_LAUNCHER


def generate(listed: list[Design], log: Path | None = None) -> list[Design]:
    """Generate the designs whose Verilog is missing or older than the Scala sources, in one sbt run; returns
    the designs it generated."""
    digest = sources_digest()
    stale = [(config, top) for config, top in listed if not up_to_date(config, top, digest)]
    if not stale:
        return []
    run_generator(manifest(stale), log or GENERATED / "sbt.log")
    for config, top in stale:
        _stamp(config, top).write_text(digest)
    return stale


def run_generator(text: str, log: Path) -> None:
    """`sbt "runMain dpq.Generate <manifest>"` on a manifest's text; GenerationError with the generator's error
    lines (and the log's path) when it fails."""
    launcher = ensure_launcher()
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".manifest", dir=log.parent, delete=False) as plan:
        plan.write(text)
    command = ["java", *SBT_OPTIONS, "-jar", str(launcher), f"runMain dpq.Generate {plan.name}"]
    try:
        with log.open("w") as output:
            run = {"cwd": SPINAL, "stdin": subprocess.DEVNULL, "stdout": output, "stderr": subprocess.STDOUT}
            done = subprocess.run(command, **run)
    finally:
        os.unlink(plan.name)
    if done.returncode != 0:
        errors = [line for line in log.read_text().splitlines() if line.startswith(("error:", "[error]"))]
        raise GenerationError("\n".join(errors[:20]) + f"\nsbt failed (exit status {done.returncode}); log: {log}")


def sources(config: ArrayConfig, top: str = "dpq_accel") -> list[Path]:
    """The generated Verilog files of one design (generated now if missing or stale)."""
    generate([(config, top)])
    return sorted(design_dir(config, top).glob("*.v"))
