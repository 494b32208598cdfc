#!/usr/bin/env bash
# scripts/lib/daemon.sh: what scripts/elasticsearch.sh and scripts/kafka.sh share to install
# tools, run a Java daemon as an unprivileged user in its own process group and stop it.
# Sourced, not run. The sourcing script defines log and die, and sets STOP_TIMEOUT, DAEMON_NOUN
# ("node", "broker": for messages) and DAEMON_RUN_PREFIX (the prefix of its run directories).

APT_PACKAGES_UPDATED=0

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }

elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

is_root() { [[ $(id -u) -eq 0 ]]; }

apt_install() {
    local -a sudo=()
    if ! is_root; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            die "missing packages: $* (not root and no passwordless sudo: install them by hand)"
        fi
    fi
    command -v apt-get >/dev/null || die "missing packages: $* (and no apt-get)"
    log "installing with apt-get: $*"
    export DEBIAN_FRONTEND=noninteractive
    if [[ $APT_PACKAGES_UPDATED -eq 0 ]]; then
        "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
        APT_PACKAGES_UPDATED=1
    fi
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >&2
}

proc_starttime() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

# live_in_group PGID: true if a process of the group is alive. `kill -0` also counts zombies,
# and some inits take seconds to reap orphans: those do not count.
live_in_group() {
    local pg=$1 f line st grp
    kill -0 -- "-$pg" 2>/dev/null || return 1
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        read -r st _ grp _ <<<"${line##*) }"
        [[ "$grp" == "$pg" && "$st" != Z && "$st" != X ]] && return 0
    done
    return 1
}

# group_alive PGID STARTTIME: true if the recorded process group still has members that are ours.
group_alive() {
    local pgid=$1 st=$2
    live_in_group "$pgid" || return 1
    # While any member exists the pgid cannot be reused. If the leader lives, check it is ours.
    if [[ -e /proc/$pgid ]]; then
        [[ -z "$st" || "$(proc_starttime "$pgid")" == "$st" ]] || return 1
    fi
    return 0
}

# kill_group PGID STARTTIME [SIGNAL]: SIGNAL (default TERM), wait, KILL.
kill_group() {
    local pgid=$1 st=$2 sig=${3:-TERM} i
    group_alive "$pgid" "$st" || return 0
    kill "-$sig" -- "-$pgid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        live_in_group "$pgid" || return 0
        sleep 0.1
    done
    log "$DAEMON_NOUN did not stop within ${STOP_TIMEOUT}s: SIGKILL"
    kill -KILL -- "-$pgid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        live_in_group "$pgid" || return 0
        sleep 0.1
    done
    die "process group $pgid still alive after SIGKILL"
}

remove_run_dir() {
    local d=$1
    # Only ever remove what start created.
    [[ -n "$d" && "$(basename "$d")" == "$DAEMON_RUN_PREFIX".* && -d "$d" ]] || return 0
    rm -rf -- "$d"
}

# ensure_user USER COMMENT: create the unprivileged system user the daemon runs as.
ensure_user() {
    local user=$1 comment=$2
    id -u "$user" >/dev/null 2>&1 && return 0
    local groupopt=(--user-group)
    getent group "$user" >/dev/null && groupopt=(--gid "$user")
    log "creating system user $user"
    useradd --system "${groupopt[@]}" --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --comment "$comment" "$user" 2>/dev/null ||
        id -u "$user" >/dev/null 2>&1 || die "useradd $user failed"
}

# run_with_daemon STATE_VAR TMP_PREFIX VAR [--] COMMAND [ARGS...]: start a daemon with the
# sourcing script's cmd_start (a private one, with its own state file, unless the variable named
# STATE_VAR names a state file), run COMMAND with VAR exported as cmd_start printed it, always
# stop the daemon (cmd_stop), and exit with COMMAND's status.
run_with_daemon() {
    local state_var=$1 tmp_prefix=$2 var=$3
    shift 3
    [[ "${1:-}" == "--" ]] && shift
    (($#)) || die "usage: $0 run -- COMMAND [ARGS...]"
    local private_state=''
    if [[ -z "${!state_var:-}" ]]; then
        private_state=$(mktemp -d "${TMPDIR:-/tmp}/$tmp_prefix.XXXXXX")
        STATE_FILE="$private_state/daemon.state"
    fi
    # shellcheck disable=SC2064
    trap "cmd_stop; [[ -n '$private_state' ]] && rm -rf -- '$private_state'" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local line
    line=$(cmd_start)
    export "$var=${line#export "$var"=}"
    log "running: $* ($var=${!var})"
    # In the background + wait, so that a SIGTERM/SIGINT to this script is handled at once
    # (bash defers traps while a foreground child runs): pass it on as SIGTERM, wait for the
    # command, then the EXIT trap stops the daemon. (A background child of a non-interactive
    # shell ignores SIGINT, hence SIGTERM; `<&0` keeps stdin, which & would replace by /dev/null.)
    local rc=0 child
    "$@" <&0 &
    child=$!
    trap 'kill -TERM "$child" 2>/dev/null || true; wait "$child" || true; log "interrupted"; exit 130' INT
    trap 'kill -TERM "$child" 2>/dev/null || true; wait "$child" || true; log "terminated"; exit 143' TERM
    wait "$child" || rc=$?
    trap 'exit 130' INT
    trap 'exit 143' TERM
    log "command exited with status $rc"
    exit "$rc"
}
