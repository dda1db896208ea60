#!/usr/bin/env bash
# A real single-node Slurm cluster on loopback, with accounting (sacct), for `hydra/launcher=slurm` tests
# and benchmarks.
#
#   bash scripts/local_slurm.sh up       # install (Debian) if needed, start munged, mariadb, slurmdbd, slurmctld, slurmd
#   bash scripts/local_slurm.sh status   # daemons, database and sinfo; exit 0 when all are up, 3 when not
#   bash scripts/local_slurm.sh down     # stop, in reverse order, the daemons this script started
#
# `up` prints `export SLURM_CONF=...` on stdout (everything else goes to stderr), so
# `eval "$(bash scripts/local_slurm.sh up)"` points the Slurm commands (sacct and sacctmgr too) at this cluster.
# `up` leaves running parts alone, so running it again is harmless.
# State, spool, logs, pid files, the rendered slurm.conf and slurmdbd.conf, and the accounting database
# (a MariaDB server of its own: datadir mysql/, socket mariadb.sock, never the system's MySQL) live in
# $SLIMKIT_SLURM_DIR (default /tmp/slimkit-slurm); the database password slurmdbd uses is generated once
# into db-password there (mode 0600). Needs root: the daemons and the packages (slurm-wlm, munge,
# slurmdbd, mariadb-server) are system-wide, and every daemon here runs as root.
# `up` renders slurm.conf from scripts/slurm/slurm.conf.in only when it starts slurmctld, and slurmdbd.conf
# from scripts/slurm/slurmdbd.conf.in only when it starts slurmdbd: after editing a template, run `down`
# then `up`. Jobs, their state and the accounting records survive a down/up.
# Environment: SLIMKIT_SLURM_DIR, SLIMKIT_SLURMCTLD_PORT (16817), SLIMKIT_SLURMD_PORT (16818),
# SLIMKIT_SLURM_DB_PORT (MariaDB on 127.0.0.1; 16819), SLIMKIT_SLURMDBD_PORT (16820),
# SLIMKIT_SLURM_CPUS (CPUs declared for the node; default 16 per core, at least 32),
# SLIMKIT_SLURM_TIMEOUT (seconds to wait for each of the database, slurmdbd and the idle node; 60).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATE="$SCRIPT_DIR/slurm/slurm.conf.in"
DBD_TEMPLATE="$SCRIPT_DIR/slurm/slurmdbd.conf.in"
STATE_DIR="${SLIMKIT_SLURM_DIR:-/tmp/slimkit-slurm}"
CONF="$STATE_DIR/slurm.conf"
DBD_CONF="$STATE_DIR/slurmdbd.conf" # slurmdbd reads it from the directory of $SLURM_CONF
CTLD_PID="$STATE_DIR/slurmctld.pid"
SLURMD_PID="$STATE_DIR/slurmd.pid"
DBD_PID="$STATE_DIR/slurmdbd.pid"
MUNGED_PID="$STATE_DIR/munged.pid" # only written when this script started munged
LOG_DIR="$STATE_DIR/log"
DB_DIR="$STATE_DIR/mysql" # MariaDB's datadir
DB_SOCKET="$STATE_DIR/mariadb.sock"
DB_PID="$STATE_DIR/mariadb.pid"
DB_PASSWORD_FILE="$STATE_DIR/db-password" # the database user slurmdbd logs in as (slurm)
DB_PORT="${SLIMKIT_SLURM_DB_PORT:-16819}"
DBD_PORT="${SLIMKIT_SLURMDBD_PORT:-16820}"
CLUSTER="$(sed -n 's/^ClusterName=//p' "$TEMPLATE")"
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

install_packages() {
    local missing=() status=0 log="$STATE_DIR/apt-get.log" policy=/usr/sbin/policy-rc.d added_policy=0
    { command -v slurmctld && command -v slurmd; } >/dev/null || missing+=(slurm-wlm)
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmdbd >/dev/null || missing+=(slurmdbd)
    { command -v mariadbd && command -v mariadb-install-db && command -v mariadb; } >/dev/null ||
        missing+=(mariadb-server)
    [[ ${#missing[@]} -eq 0 ]] && return
    command -v apt-get >/dev/null || die "no apt-get to install what is missing: install ${missing[*]} (Debian package names)"
    say "installing ${missing[*]} with apt-get ..."
    # Keep the packages' init scripts from starting daemons with their default config.
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        added_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    mkdir -p "$STATE_DIR"
    {
        apt-get update -qq &&
            apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"
    } >"$log" 2>&1 || status=$?
    [[ $added_policy -eq 1 ]] && rm -f "$policy"
    if [[ $status -ne 0 ]]; then
        tail -n 20 "$log" >&2
        die "apt-get install ${missing[*]} failed (status $status; full output in $log)"
    fi
    local command
    for command in slurmctld slurmd munged slurmdbd mariadbd mariadb-install-db mariadb; do
        command -v "$command" >/dev/null || die "$command is still missing after apt-get install ${missing[*]}"
    done
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

render() { # render <template> <output> <sed expression>...: fill the placeholders, refuse any left over
    local template="$1" output="$2"
    shift 2
    sed "$@" "$template" >"$output.tmp"
    if grep -q '@[A-Z_]*@' "$output.tmp"; then
        rm -f "$output.tmp"
        die "unfilled placeholder in $template: $(sed "$@" "$template" | grep -o '@[A-Z_]*@' | head -1)"
    fi
    mv "$output.tmp" "$output"
}

render_conf() {
    local cpus real_cpus memory_mb
    real_cpus="$(nproc)"
    cpus="${SLIMKIT_SLURM_CPUS:-$((real_cpus * 16 > 32 ? real_cpus * 16 : 32))}"
    # 90% of the machine's memory: slurmd refuses a node that declares more than it has.
    memory_mb="$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)"
    mkdir -p "$STATE_DIR/state" "$STATE_DIR/spool" "$LOG_DIR"
    render "$TEMPLATE" "$CONF" \
        -e "s|@HOSTNAME@|$NODE|g" \
        -e "s|@STATE_DIR@|$STATE_DIR|g" \
        -e "s|@SLURMCTLD_PORT@|${SLIMKIT_SLURMCTLD_PORT:-16817}|g" \
        -e "s|@SLURMD_PORT@|${SLIMKIT_SLURMD_PORT:-16818}|g" \
        -e "s|@SLURMDBD_PORT@|$DBD_PORT|g" \
        -e "s|@CPUS@|$cpus|g" \
        -e "s|@REAL_CPUS@|$real_cpus|g" \
        -e "s|@REAL_MEMORY_MB@|$memory_mb|g"
}

render_dbd_conf() { # slurmdbd refuses a slurmdbd.conf not owned by its SlurmUser (root) or readable by others
    local password
    password="$(cat "$DB_PASSWORD_FILE")"
    (
        umask 077
        render "$DBD_TEMPLATE" "$DBD_CONF" \
            -e "s|@STATE_DIR@|$STATE_DIR|g" \
            -e "s|@SLURMDBD_PORT@|$DBD_PORT|g" \
            -e "s|@DB_PORT@|$DB_PORT|g" \
            -e "s|@DB_PASSWORD@|$password|g"
    )
    chown root:root "$DBD_CONF"
    chmod 0600 "$DBD_CONF"
}

# The database: MariaDB's own server, on 127.0.0.1:$DB_PORT and $DB_SOCKET, with --no-defaults so that
# nothing of a system MySQL/MariaDB (/etc/mysql, /var/lib/mysql, port 3306) is read or touched. It runs as
# root (--user=root) like every daemon here, so the state dir's owner and mode never matter.
db_admin() { mariadb-admin --no-defaults --socket="$DB_SOCKET" --user=root --connect-timeout=2 "$@"; }
db_answers() { command -v mariadb-admin >/dev/null && db_admin ping >/dev/null 2>&1; }

start_mariadb() {
    local log="$LOG_DIR/mariadb.log" pid deadline
    mkdir -p "$LOG_DIR"
    if pid_alive "$DB_PID"; then
        db_answers || die "mariadb (pid $(cat "$DB_PID")) runs but does not answer on $DB_SOCKET; see $log"
        return
    fi
    if [[ ! -d $DB_DIR/mysql ]]; then
        say "creating the accounting database in $DB_DIR (mariadb-install-db)"
        rm -rf "$DB_DIR.new"
        mariadb-install-db --no-defaults --user=root --datadir="$DB_DIR.new" --skip-test-db \
            --auth-root-authentication-method=socket >"$LOG_DIR/mariadb-install-db.log" 2>&1 || {
            tail -n 20 "$LOG_DIR/mariadb-install-db.log" >&2
            rm -rf "$DB_DIR.new"
            die "mariadb-install-db failed (full output in $LOG_DIR/mariadb-install-db.log)"
        }
        rm -rf "$DB_DIR"
        mv "$DB_DIR.new" "$DB_DIR"
    fi
    say "starting mariadb on 127.0.0.1:$DB_PORT (datadir $DB_DIR)"
    rm -f "$DB_PID"
    # slurmdbd logs an error at each start unless the buffer pool is at least 512M and the lock wait at
    # least 450 s (half its recommendations, 1G and 900 s); the pool is only filled as it is used.
    setsid -w mariadbd --no-defaults --user=root --datadir="$DB_DIR" --socket="$DB_SOCKET" \
        --pid-file="$DB_PID" --log-error="$log" --bind-address=127.0.0.1 --port="$DB_PORT" \
        --skip-name-resolve --innodb-buffer-pool-size=1G --innodb-lock-wait-timeout=900 \
        </dev/null >>"$log" 2>&1 &
    pid=$!
    deadline=$((SECONDS + TIMEOUT))
    until db_answers; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
            show_logs mariadb
            kill -0 "$pid" 2>/dev/null && die "mariadb does not answer after ${TIMEOUT}s; log $log"
            die "mariadb did not start; log $log"
        fi
        sleep 0.2
    done
}

ensure_db_user() { # the database user slurmdbd logs in as, with its password kept in $DB_PASSWORD_FILE
    if [[ ! -s $DB_PASSWORD_FILE ]]; then
        (
            umask 077
            head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DB_PASSWORD_FILE"
        )
    fi
    chmod 0600 "$DB_PASSWORD_FILE"
    local password
    password="$(cat "$DB_PASSWORD_FILE")"
    # On stdin, not in argv: `ps` would show the password.
    mariadb --no-defaults --socket="$DB_SOCKET" --user=root >"$LOG_DIR/mariadb-setup.log" 2>&1 <<SQL || {
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL
        cat "$LOG_DIR/mariadb-setup.log" >&2
        die "could not create the database user slurm in mariadb ($DB_SOCKET)"
    }
}

clusters() { SLURM_CONF="$CONF" timeout 5 sacctmgr -n -P show cluster format=cluster 2>/dev/null; }

start_slurmdbd() {
    local log="$LOG_DIR/slurmdbd.log" deadline known from=-1 fatal
    if ! pid_alive "$DBD_PID"; then
        render_dbd_conf
        from=0
        [[ -f $log ]] && from="$(stat -c %s "$log")"
        say "starting slurmdbd on 127.0.0.1:$DBD_PORT"
        # slurmdbd has no -f: it reads slurmdbd.conf from the directory of $SLURM_CONF.
        SLURM_CONF="$CONF" slurmdbd || {
            show_logs slurmdbd
            die "slurmdbd did not start"
        }
    fi
    # The first start creates the tables in slurm_acct_db: a second or so.
    deadline=$((SECONDS + TIMEOUT))
    until known="$(clusters)"; do
        # It forks before it opens its port, so a fatal error shows only in its log.
        fatal=""
        ((from >= 0)) && fatal="$(tail -c "+$((from + 1))" "$log" 2>/dev/null | grep -m1 'fatal:' || true)"
        if [[ -n $fatal ]]; then
            show_logs slurmdbd
            die "slurmdbd stopped: ${fatal#*] }"
        fi
        if ((SECONDS >= deadline)); then
            show_logs slurmdbd mariadb
            die "slurmdbd does not answer sacctmgr after ${TIMEOUT}s; logs in $LOG_DIR"
        fi
        sleep 0.5
    done
    if ! grep -qx "$CLUSTER" <<<"$known"; then
        # Adding the cluster also makes the account root with the user root, whom the jobs here run as.
        say "registering cluster $CLUSTER with slurmdbd"
        SLURM_CONF="$CONF" sacctmgr -i add cluster "$CLUSTER" >&2 || die "sacctmgr add cluster $CLUSTER failed"
    fi
}

node_state() { SLURM_CONF="$CONF" sinfo -h -n "$NODE" -o %t 2>/dev/null | head -1; }

show_logs() { # show_logs <daemon>...: the tail of each one's log
    local name log
    for name in "$@"; do
        log="$LOG_DIR/$name.log"
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
    show_logs slurmctld slurmd
    die "node $NODE is not idle after ${TIMEOUT}s (sinfo state: '${state:-no answer}'); logs in $LOG_DIR"
}

cmd_up() {
    need_root
    mkdir -p "$STATE_DIR"
    install_packages
    start_munge
    # sacctmgr finds slurmdbd through slurm.conf, so it is rendered before slurmdbd starts (and, as
    # before, only while slurmctld is not running).
    if ! pid_alive "$CTLD_PID"; then
        render_conf
    elif ! grep -q '^AccountingStorageType=accounting_storage/slurmdbd' "$CONF"; then
        die "slurmctld (pid $(cat "$CTLD_PID")) runs with a slurm.conf without accounting: run '$0 down', then '$0 up'"
    fi
    start_mariadb
    ensure_db_user
    start_slurmdbd
    if pid_alive "$CTLD_PID" && pid_alive "$SLURMD_PID"; then
        say "already up (slurmctld pid $(cat "$CTLD_PID"), slurmd pid $(cat "$SLURMD_PID"))"
    else
        if ! pid_alive "$CTLD_PID"; then
            say "starting slurmctld on 127.0.0.1:${SLIMKIT_SLURMCTLD_PORT:-16817}"
            SLURM_CONF="$CONF" slurmctld -f "$CONF" || {
                show_logs slurmctld
                die "slurmctld did not start"
            }
        fi
        if ! pid_alive "$SLURMD_PID"; then
            say "starting slurmd (node $NODE)"
            SLURM_CONF="$CONF" slurmd -f "$CONF" || {
                show_logs slurmd
                die "slurmd did not start"
            }
        fi
    fi
    wait_until_idle
    say "node $NODE is $(node_state); partition debug; accounting: slurmdbd 127.0.0.1:$DBD_PORT," \
        "mariadb 127.0.0.1:$DB_PORT; state dir $STATE_DIR"
    echo "export SLURM_CONF=$CONF"
}

stop_pid_file() { # stop_pid_file <name> <pid file> [seconds before SIGKILL, 10]
    local name="$1" file="$2" seconds="${3:-10}" pid waited=0
    if ! pid_alive "$file"; then
        rm -f "$file"
        return
    fi
    pid="$(cat "$file")"
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited++ >= seconds * 10)); then
            say "$name did not stop in $seconds s: killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$file"
}

cmd_down() {
    stop_pid_file slurmd "$SLURMD_PID"
    stop_pid_file slurmctld "$CTLD_PID" # sends what it still holds for accounting to slurmdbd first
    stop_pid_file slurmdbd "$DBD_PID"
    stop_pid_file mariadb "$DB_PID" 60 # a clean InnoDB shutdown; SIGKILL only as a last resort
    stop_pid_file munged "$MUNGED_PID"
    say "down"
}

cmd_status() {
    local up=0 known
    if pid_alive "$CTLD_PID"; then echo "slurmctld: running (pid $(cat "$CTLD_PID"))"; else
        echo "slurmctld: not running"
        up=3
    fi
    if pid_alive "$SLURMD_PID"; then echo "slurmd: running (pid $(cat "$SLURMD_PID"))"; else
        echo "slurmd: not running"
        up=3
    fi
    if ! pid_alive "$DBD_PID"; then
        echo "slurmdbd: not running"
        up=3
    elif [[ -f $CONF ]] && known="$(clusters)" && grep -qx "$CLUSTER" <<<"$known"; then
        echo "slurmdbd: running (pid $(cat "$DBD_PID"), 127.0.0.1:$DBD_PORT; cluster $CLUSTER registered)"
    else
        echo "slurmdbd: running (pid $(cat "$DBD_PID")) but sacctmgr gets no answer or no cluster $CLUSTER"
        up=3
    fi
    if ! pid_alive "$DB_PID"; then
        echo "mariadb: not running"
        up=3
    elif db_answers; then
        echo "mariadb: running (pid $(cat "$DB_PID"), 127.0.0.1:$DB_PORT, datadir $DB_DIR)"
    else
        echo "mariadb: running (pid $(cat "$DB_PID")) but does not answer on $DB_SOCKET"
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
