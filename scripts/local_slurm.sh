#!/usr/bin/env bash
# A real single-node Slurm cluster on loopback, for `hydra/launcher=slurm` tests and benchmarks.
#
#   bash scripts/local_slurm.sh up       # install (Debian) if needed, start munged, slurmctld, slurmd
#   bash scripts/local_slurm.sh status   # daemons and sinfo; exit 0 when up, 3 when not
#   bash scripts/local_slurm.sh down     # stop the daemons this script started
#
# `up` prints `export SLURM_CONF=...` on stdout (everything else goes to stderr), so
# `eval "$(bash scripts/local_slurm.sh up)"` points the Slurm commands at this cluster.
# State, spool, logs, pid files and the rendered slurm.conf live in $SLIMKIT_SLURM_DIR
# (default /tmp/slimkit-slurm). Needs root: the daemons and the packages are system-wide.
# `up` renders slurm.conf from scripts/slurm/slurm.conf.in only when it starts slurmctld: after
# editing the template, run `down` then `up`. Jobs and their state survive a down/up.
# Environment: SLIMKIT_SLURM_DIR, SLIMKIT_SLURMCTLD_PORT (16817), SLIMKIT_SLURMD_PORT (16818),
# SLIMKIT_SLURM_CPUS (CPUs declared for the node; default 16 per core, at least 32),
# SLIMKIT_SLURM_TIMEOUT (seconds to wait for the node to be idle; 60).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATE="$SCRIPT_DIR/slurm/slurm.conf.in"
STATE_DIR="${SLIMKIT_SLURM_DIR:-/tmp/slimkit-slurm}"
CONF="$STATE_DIR/slurm.conf"
CTLD_PID="$STATE_DIR/slurmctld.pid"
SLURMD_PID="$STATE_DIR/slurmd.pid"
MUNGED_PID="$STATE_DIR/munged.pid" # only written when this script started munged
LOG_DIR="$STATE_DIR/log"
NODE="$(hostname -s)"
TIMEOUT="${SLIMKIT_SLURM_TIMEOUT:-60}"
MUNGE_KEY=/etc/munge/munge.key
MUNGE_RUN_DIR=/run/munge

say() { echo "local_slurm: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

pid_alive() { # pid_alive <pid file>: the process named in the file is running
    [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

need_root() {
    [[ $EUID -eq 0 ]] || die "needs root (it installs packages and starts system daemons); run it with sudo"
}

install_slurm() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && return
    command -v apt-get >/dev/null || die "slurmctld is missing and there is no apt-get: install slurm-wlm and munge"
    say "installing slurm-wlm and munge with apt-get ..."
    # Keep the packages' init scripts from starting daemons with their default config.
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        added_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local status=0 log="$STATE_DIR/apt-get.log"
    mkdir -p "$STATE_DIR"
    {
        apt-get update -qq &&
            apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 slurm-wlm munge
    } >"$log" 2>&1 || status=$?
    [[ $added_policy -eq 1 ]] && rm -f "$policy"
    if [[ $status -ne 0 ]]; then
        tail -n 20 "$log" >&2
        die "apt-get install slurm-wlm munge failed (status $status; full output in $log)"
    fi
    command -v slurmctld >/dev/null || die "slurmctld is still missing after apt-get install slurm-wlm"
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if [[ ! -s $MUNGE_KEY ]]; then
        say "creating $MUNGE_KEY"
        mkdir -p "$(dirname "$MUNGE_KEY")"
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$MUNGE_KEY" --force
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
        fi
    fi
    local owner=root
    id munge >/dev/null 2>&1 && owner=munge
    chown "$owner:" "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"
    munge_works && return
    say "starting munged"
    mkdir -p "$MUNGE_RUN_DIR" /var/lib/munge /var/log/munge
    chown "$owner:" "$MUNGE_RUN_DIR" /var/lib/munge /var/log/munge
    chmod 0755 "$MUNGE_RUN_DIR"
    rm -f "$MUNGE_RUN_DIR/munged.pid"
    if [[ $owner == munge ]]; then
        runuser -u munge -- munged
    else
        munged --force
    fi
    local waited=0
    until munge_works; do
        ((waited++ < 50)) || die "munged does not answer (see /var/log/munge/munged.log)"
        sleep 0.1
    done
    [[ -s "$MUNGE_RUN_DIR/munged.pid" ]] && cp "$MUNGE_RUN_DIR/munged.pid" "$MUNGED_PID"
    return 0
}

render_conf() {
    local cpus real_cpus memory_mb
    real_cpus="$(nproc)"
    cpus="${SLIMKIT_SLURM_CPUS:-$((real_cpus * 16 > 32 ? real_cpus * 16 : 32))}"
    # 90% of the machine's memory: slurmd refuses a node that declares more than it has.
    memory_mb="$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)"
    mkdir -p "$STATE_DIR/state" "$STATE_DIR/spool" "$LOG_DIR"
    sed -e "s|@HOSTNAME@|$NODE|g" \
        -e "s|@STATE_DIR@|$STATE_DIR|g" \
        -e "s|@SLURMCTLD_PORT@|${SLIMKIT_SLURMCTLD_PORT:-16817}|g" \
        -e "s|@SLURMD_PORT@|${SLIMKIT_SLURMD_PORT:-16818}|g" \
        -e "s|@CPUS@|$cpus|g" \
        -e "s|@REAL_CPUS@|$real_cpus|g" \
        -e "s|@REAL_MEMORY_MB@|$memory_mb|g" \
        "$TEMPLATE" >"$CONF.tmp"
    if grep -q '@[A-Z_]*@' "$CONF.tmp"; then
        die "unfilled placeholder in $TEMPLATE: $(grep -o '@[A-Z_]*@' "$CONF.tmp" | head -1)"
    fi
    mv "$CONF.tmp" "$CONF"
}

node_state() { SLURM_CONF="$CONF" sinfo -h -n "$NODE" -o %t 2>/dev/null | head -1; }

show_logs() {
    local log
    for log in "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log"; do
        [[ -f $log ]] || continue
        echo "---- tail $log" >&2
        tail -n 20 "$log" >&2
    done
}

wait_until_idle() {
    local deadline=$((SECONDS + TIMEOUT)) state=""
    while ((SECONDS < deadline)); do
        state="$(node_state)"
        case "$state" in
        idle | mix | alloc) return 0 ;; # mix/alloc: jobs kept from before a restart are running
        down* | drain* | inval*)
            SLURM_CONF="$CONF" scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
            ;;
        esac
        sleep 0.5
    done
    show_logs
    die "node $NODE is not idle after ${TIMEOUT}s (sinfo state: '${state:-no answer}'); logs in $LOG_DIR"
}

cmd_up() {
    need_root
    install_slurm
    mkdir -p "$STATE_DIR"
    start_munge
    if pid_alive "$CTLD_PID" && pid_alive "$SLURMD_PID"; then
        say "already up (slurmctld pid $(cat "$CTLD_PID"), slurmd pid $(cat "$SLURMD_PID"))"
    else
        if ! pid_alive "$CTLD_PID"; then
            render_conf
            say "starting slurmctld on 127.0.0.1:${SLIMKIT_SLURMCTLD_PORT:-16817}"
            SLURM_CONF="$CONF" slurmctld -f "$CONF" || {
                show_logs
                die "slurmctld did not start"
            }
        fi
        if ! pid_alive "$SLURMD_PID"; then
            say "starting slurmd (node $NODE)"
            SLURM_CONF="$CONF" slurmd -f "$CONF" || {
                show_logs
                die "slurmd did not start"
            }
        fi
    fi
    wait_until_idle
    say "node $NODE is $(node_state); partition debug; state dir $STATE_DIR"
    echo "export SLURM_CONF=$CONF"
}

stop_pid_file() { # stop_pid_file <name> <pid file>
    local name="$1" file="$2" pid waited=0
    if ! pid_alive "$file"; then
        rm -f "$file"
        return
    fi
    pid="$(cat "$file")"
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited++ >= 100)); then
            say "$name did not stop in 10 s: killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$file"
}

cmd_down() {
    stop_pid_file slurmd "$SLURMD_PID"
    stop_pid_file slurmctld "$CTLD_PID"
    stop_pid_file munged "$MUNGED_PID"
    say "down"
}

cmd_status() {
    local up=0
    if pid_alive "$CTLD_PID"; then echo "slurmctld: running (pid $(cat "$CTLD_PID"))"; else
        echo "slurmctld: not running"
        up=3
    fi
    if pid_alive "$SLURMD_PID"; then echo "slurmd: running (pid $(cat "$SLURMD_PID"))"; else
        echo "slurmd: not running"
        up=3
    fi
    if command -v munge >/dev/null && munge_works; then echo "munged: running"; else
        echo "munged: not running"
        up=3
    fi
    if [[ $up -eq 0 ]]; then
        SLURM_CONF="$CONF" sinfo || up=3
        echo "export SLURM_CONF=$CONF"
    fi
    return $up
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*)
    echo "usage: $0 up|down|status   (state dir: $STATE_DIR)" >&2
    exit 2
    ;;
esac
