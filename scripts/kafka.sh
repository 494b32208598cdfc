#!/usr/bin/env bash
# scripts/kafka.sh: fetch, cache, start and stop a REAL single-node Apache Kafka (KRaft mode:
# one process is broker and controller) for tests and demos. No Docker, no tarball: the broker's
# jars come from Maven Central and run on the machine's JDK 17 (Debian bookworm; as root it
# installs what is missing with apt-get and creates an unprivileged system user).
#
#   scripts/kafka.sh fetch              install tools if missing, download the jars into the cache
#   scripts/kafka.sh start              format a fresh data dir, start a broker on a free loopback
#                                       port, wait until it serves; prints `export KAFKA_BROKERS=...`
#   scripts/kafka.sh stop               stop the broker recorded in the state file, remove its dir
#   scripts/kafka.sh restart [--kill]   stop the recorded broker (SIGTERM, or SIGKILL with --kill)
#                                       and start it again on the same ports with the same data
#                                       (fault tests: the broker going away)
#   scripts/kafka.sh status             print the state of the recorded broker
#   scripts/kafka.sh run -- CMD...      fetch + start a PRIVATE broker, run CMD with KAFKA_BROKERS
#                                       exported, always stop, exit with CMD's status
#
# Environment:
#   SHIPPER_KAFKA_CACHE          jars (default ${XDG_CACHE_HOME:-$HOME/.cache}/shipper/kafka-<VERSION>)
#   SHIPPER_KAFKA_STATE          state file of start/stop/status (default ${XDG_STATE_HOME:-$HOME/.local/state}/shipper/kafka.state);
#                                `run` uses a private one unless this is set
#   SHIPPER_KAFKA_USER           user the broker runs as when we are root (default shipper-kafka)
#   SHIPPER_KAFKA_JAVA_HOME      JDK 17+ to use (default: /usr/lib/jvm/java-17-openjdk-*)
#   SHIPPER_KAFKA_HEAP           heap size (default 512m)
#   SHIPPER_KAFKA_PORT           client port (default 0 = a free one)
#   SHIPPER_KAFKA_PARTITIONS     partitions of auto-created topics (default 3)
#   SHIPPER_KAFKA_START_TIMEOUT  seconds to wait for the broker (default 120)
#   TMPDIR                       where the per-run dir goes (default /tmp)
#
# ------------------------------------------------------------------------------------------------
# VERSION. Kafka 4.x brokers need Java 17 (clients 11); bookworm has 17. Pinned: 4.1.1 of
# org.apache.kafka:kafka_2.13 on Maven Central. The jars are what `mvn dependency:copy-dependencies`
# resolves (runtime scope) for a generated pom with kafka_2.13 plus log4j-core and
# log4j-slf4j-impl (Kafka logs through SLF4J 1.7; without a binding it would log nothing): about
# 46 jars, 43 MB. Main classes: kafka.tools.StorageTool (`kafka-storage.sh format`) and kafka.Kafka
# (`kafka-server-start.sh`).
#
# FINDINGS (4.1.1, OpenJDK 17.0.15, 2 vCPU, busy machine):
#  * Fetch from Maven Central ~13 s cold; jars also land in ~/.m2.
#  * format ~4 s (a JVM start); start to "Kafka Server started" ~10 s.
#  * `format --standalone` refuses a config with controller.quorum.voters ("You cannot specify
#    controller.quorum.voters and format the node with --initial-controllers or --standalone"):
#    with a static voter set, format takes no quorum flag. The controller port must be known
#    before the start (it is in the voter set), so this script picks both ports itself.
#  * The cluster id is any base64url-encoded 16-byte UUID (what `random-uuid` prints); made here
#    without a second JVM start.
# ------------------------------------------------------------------------------------------------
set -euo pipefail

KAFKA_VERSION=4.1.1
SCALA_VERSION=2.13
LOG4J_VERSION=2.24.3
MVN_DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

CACHE_DIR="${SHIPPER_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shipper/kafka-${KAFKA_VERSION}}"
CACHE_DIR="${CACHE_DIR%/}"
STATE_FILE="${SHIPPER_KAFKA_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/shipper/kafka.state}"
KAFKA_USER="${SHIPPER_KAFKA_USER:-shipper-kafka}"
KAFKA_HEAP="${SHIPPER_KAFKA_HEAP:-512m}"
KAFKA_PORT="${SHIPPER_KAFKA_PORT:-0}"
KAFKA_PARTITIONS="${SHIPPER_KAFKA_PARTITIONS:-3}"
START_TIMEOUT="${SHIPPER_KAFKA_START_TIMEOUT:-120}"
STOP_TIMEOUT=30

log() { printf '[kafka.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
DAEMON_NOUN=broker # in messages of kill_group
DAEMON_RUN_PREFIX=shipper-kafka # remove_run_dir removes only directories named <prefix>.*
# shellcheck source=lib/daemon.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/daemon.sh"

# ---------------------------------------------------------------------------------------- fetch

find_java_home() {
    if [[ -n "${SHIPPER_KAFKA_JAVA_HOME:-}" ]]; then
        [[ -x "$SHIPPER_KAFKA_JAVA_HOME/bin/java" ]] || die "SHIPPER_KAFKA_JAVA_HOME=$SHIPPER_KAFKA_JAVA_HOME has no bin/java"
        printf '%s\n' "$SHIPPER_KAFKA_JAVA_HOME"
        return 0
    fi
    local d
    for d in /usr/lib/jvm/java-17-openjdk-*; do
        if [[ -x "$d/bin/java" ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    done
    return 1
}

ensure_tools() {
    local -a missing=()
    find_java_home >/dev/null || missing+=(openjdk-17-jdk-headless)
    command -v mvn >/dev/null || missing+=(maven)
    command -v python3 >/dev/null || missing+=(python3)
    command -v flock >/dev/null || missing+=(util-linux)
    if ((${#missing[@]})); then
        apt_install "${missing[@]}"
    fi
    find_java_home >/dev/null || die "no JDK 17 found in /usr/lib/jvm (set SHIPPER_KAFKA_JAVA_HOME)"
}

write_pom() {
    cat >"$1" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by scripts/kafka.sh: the broker's jars, resolved by Maven -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.shipper</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_VERSION}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF
}

cmd_fetch() {
    local t0
    t0=$(now)
    ensure_tools
    if [[ -f "$CACHE_DIR/.shipper-complete" ]]; then
        log "cached: $CACHE_DIR ($(elapsed "$t0") s)"
        return 0
    fi
    local parent
    parent=$(dirname "$CACHE_DIR")
    mkdir -p "$parent"
    # One fetch at a time per cache dir; the others wait, then find it complete.
    exec 8>"$CACHE_DIR.lock"
    flock -w 900 8 || die "timed out waiting for the lock $CACHE_DIR.lock"
    if [[ ! -f "$CACHE_DIR/.shipper-complete" ]]; then
        rm -rf -- "$CACHE_DIR" "$parent/.fetch-kafka-${KAFKA_VERSION}."*
        local tmp
        tmp=$(mktemp -d "$parent/.fetch-kafka-${KAFKA_VERSION}.XXXXXX")
        local dist="$tmp/kafka-${KAFKA_VERSION}"
        mkdir -p "$dist/libs"
        write_pom "$tmp/pom.xml"
        log "downloading org.apache.kafka:kafka_${SCALA_VERSION}:${KAFKA_VERSION} and its dependencies from Maven Central"
        # --strict-checksums: fail on a checksum mismatch instead of warning.
        if ! mvn -B -q --strict-checksums -f "$tmp/pom.xml" "$MVN_DEPENDENCY_PLUGIN:copy-dependencies" \
            -DincludeScope=runtime -DoutputDirectory="$dist/libs" >"$tmp/mvn.log" 2>&1; then
            cat "$tmp/mvn.log" >&2
            rm -rf -- "$tmp"
            die "mvn could not download kafka_${SCALA_VERSION}:${KAFKA_VERSION}"
        fi
        if ! { [[ -f "$dist/libs/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar" ]] &&
            cp "$tmp/pom.xml" "$dist/pom.xml" &&
            chmod -R a+rX "$dist" &&
            date -u +%FT%TZ >"$dist/.shipper-complete" &&
            mv -T "$dist" "$CACHE_DIR"; }; then
            rm -rf -- "$tmp"
            die "could not put the Kafka jars into $CACHE_DIR"
        fi
        rm -rf -- "$tmp"
        log "fetched $(find "$CACHE_DIR/libs" -name '*.jar' | wc -l) jars into $CACHE_DIR ($(elapsed "$t0") s)"
    else
        log "cached (fetched concurrently): $CACHE_DIR ($(elapsed "$t0") s)"
    fi
    exec 8>&-
}

# ------------------------------------------------------------------------------- state helpers

# read_state FILE: sets S_PGID S_STARTTIME S_BROKERS S_RUN_DIR (empty if absent).
read_state() {
    S_PGID='' S_STARTTIME='' S_BROKERS='' S_RUN_DIR=''
    [[ -s "$1" ]] || return 1
    local k v
    while IFS='=' read -r k v; do
        case "$k" in
        pgid) S_PGID=$v ;;
        starttime) S_STARTTIME=$v ;;
        brokers) S_BROKERS=$v ;;
        run_dir) S_RUN_DIR=$v ;;
        esac
    done <"$1"
    [[ "$S_PGID" =~ ^[0-9]+$ ]]
}

# ---------------------------------------------------------------------------------------- start

# free_ports N: N distinct loopback ports that are free now (the kernel picks them). A port can be
# taken again between here and the broker's bind; the start then fails with "Address already in
# use" in the log and can be retried.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# cluster_id: a base64url-encoded random 16-byte UUID without padding, as `random-uuid` prints.
cluster_id() {
    head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

print_log_tail() {
    local run_dir=$1 f
    for f in "$run_dir/logs/format.log" "$run_dir/logs/server.log"; do
        [[ -s "$f" ]] || continue
        log "---- tail of $f"
        tail -n 60 "$f" >&2
    done
}

# write_config RUN_DIR PORT CONTROLLER_PORT
write_config() {
    local run_dir=$1 port=$2 cport=$3
    cat >"$run_dir/config/server.properties" <<EOF
# written by scripts/kafka.sh: one node that is broker and controller (KRaft), loopback only
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${cport}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${run_dir}/data
num.partitions=${KAFKA_PARTITIONS}
auto.create.topics.enable=true
# a single node: every internal topic has one replica
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# tests: no 3 s wait before the first consumer group rebalance
group.initial.rebalance.delay.ms=0
EOF
    cat >"$run_dir/config/log4j2.properties" <<'EOF'
# written by scripts/kafka.sh: everything to stdout (logs/server.log), INFO and up
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.kafkaconfig.name = org.apache.kafka.common.config
logger.kafkaconfig.level = WARN
EOF
}

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cmd_start() {
    local t0
    t0=$(now)
    cmd_fetch
    local java_home
    java_home=$(find_java_home)

    mkdir -p "$(dirname "$STATE_FILE")"
    exec 9>"$STATE_FILE.lock"
    flock -w 300 9 || die "timed out waiting for $STATE_FILE.lock"
    local restart_dir=${RESTART_RUN_DIR:-}
    if [[ -z "$restart_dir" ]] && read_state "$STATE_FILE"; then
        if group_alive "$S_PGID" "$S_STARTTIME"; then
            log "already running (state file $STATE_FILE)"
            printf 'export KAFKA_BROKERS=%s\n' "$S_BROKERS"
            return 0
        fi
        log "removing stale state (process group $S_PGID is gone)"
        remove_run_dir "$S_RUN_DIR"
    fi
    rm -f -- "$STATE_FILE"

    local -a as_user=()
    if is_root; then
        ensure_user "$KAFKA_USER" "shipper test Kafka"
        as_user=(setpriv --reuid="$KAFKA_USER" --regid="$(id -g "$KAFKA_USER")" --init-groups)
    fi

    # Per-run dir: libs/ (hard links to the cache, which may sit under a 0700 $HOME), config/,
    # data/ (the log dir, formatted once), logs/, tmp/.
    local run_dir=$restart_dir port cport
    if [[ -z "$restart_dir" ]]; then
        run_dir=$(mktemp -d "${TMPDIR:-/tmp}/shipper-kafka.XXXXXX")
        chmod 0755 "$run_dir"
        if ! cp -al "$CACHE_DIR/libs" "$run_dir/libs" 2>/dev/null; then
            rm -rf -- "${run_dir:?}/libs"
            cp -a "$CACHE_DIR/libs" "$run_dir/libs"
        fi
        mkdir -p "$run_dir/config" "$run_dir/data" "$run_dir/logs" "$run_dir/tmp"
        local ports
        ports=$(free_ports 2) || { remove_run_dir "$run_dir"; die "could not find free ports"; }
        read -r port cport <<<"$ports"
        [[ "$KAFKA_PORT" != 0 ]] && port=$KAFKA_PORT
        write_config "$run_dir" "$port" "$cport"
        if is_root; then
            chown -R "$KAFKA_USER:" "$run_dir/config" "$run_dir/data" "$run_dir/logs" "$run_dir/tmp"
            chown "$KAFKA_USER:" "$run_dir/libs"
            "${as_user[@]}" test -r "$run_dir/libs/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar" ||
                { remove_run_dir "$run_dir"; die "$KAFKA_USER cannot read $run_dir (TMPDIR=${TMPDIR:-/tmp} not accessible?)"; }
        fi
        # kafka-storage.sh format: writes meta.properties and the bootstrap checkpoint.
        if ! "${as_user[@]}" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$run_dir/tmp" LANG=C.UTF-8 \
            "$java_home/bin/java" -Xmx256m -Djava.io.tmpdir="$run_dir/tmp" \
            -Dlog4j2.configurationFile="$run_dir/config/log4j2.properties" \
            -cp "$run_dir/libs/*" kafka.tools.StorageTool format \
            --cluster-id "$(cluster_id)" --config "$run_dir/config/server.properties" \
            </dev/null >"$run_dir/logs/format.log" 2>&1; then
            print_log_tail "$run_dir"
            remove_run_dir "$run_dir"
            die "kafka-storage format failed"
        fi
    else
        port=$(sed -n 's|^advertised.listeners=PLAINTEXT://127.0.0.1:||p' "$run_dir/config/server.properties")
    fi
    local brokers="127.0.0.1:$port"

    # setsid: own session and process group, so that stop kills the JVM and a Ctrl-C in the
    # terminal does not reach it. The bash records its pid (= the process group id) and execs java.
    local t1
    t1=$(now)
    rm -f -- "$run_dir/pgid"
    # shellcheck disable=SC2016 # $$ and $@ are for the inner bash
    setsid bash -c 'echo $$ >"$1/pgid"; shift; exec "$@"' _ "$run_dir" \
        "${as_user[@]}" env -i \
        PATH=/usr/local/bin:/usr/bin:/bin \
        HOME="$run_dir/tmp" \
        LANG=C.UTF-8 \
        "$java_home/bin/java" "-Xms${KAFKA_HEAP}" "-Xmx${KAFKA_HEAP}" -XX:+UseG1GC \
        -Djava.awt.headless=true -Djava.io.tmpdir="$run_dir/tmp" \
        -Dlog4j2.configurationFile="$run_dir/config/log4j2.properties" \
        -cp "$run_dir/libs/*" kafka.Kafka "$run_dir/config/server.properties" \
        </dev/null >>"$run_dir/logs/server.log" 2>&1 8>&- 9>&- &
    local i pgid=''
    for ((i = 0; i < 50; i++)); do
        [[ -s "$run_dir/pgid" ]] && pgid=$(<"$run_dir/pgid") && break
        sleep 0.1
    done
    [[ -n "$pgid" ]] || { remove_run_dir "$run_dir"; die "could not start the broker"; }
    local starttime
    starttime=$(proc_starttime "$pgid")
    {
        echo "pgid=$pgid"
        echo "starttime=$starttime"
        echo "brokers=$brokers"
        echo "run_dir=$run_dir"
        echo "version=$KAFKA_VERSION"
    } >"$STATE_FILE.tmp"
    mv -f -- "$STATE_FILE.tmp" "$STATE_FILE"

    # Ready: this start's "Kafka Server started" line (the log is appended to across restarts)
    # and the client port accepts connections.
    local started_before
    started_before=$(grep -c 'Kafka Server started' "$run_dir/logs/server.log" 2>/dev/null || true)
    local deadline=$((SECONDS + START_TIMEOUT)) fail=''
    while :; do
        if ! group_alive "$pgid" "$starttime"; then
            fail="the broker exited"
            break
        fi
        if ((SECONDS >= deadline)); then
            fail="the broker was not ready after ${START_TIMEOUT}s"
            break
        fi
        if (($(grep -c 'Kafka Server started' "$run_dir/logs/server.log" 2>/dev/null || true) > ${started_before:-0})) &&
            port_open "$port"; then
            break
        fi
        sleep 0.3
    done
    if [[ -n "$fail" ]]; then
        log "ERROR: $fail"
        print_log_tail "$run_dir"
        kill_group "$pgid" "$starttime"
        remove_run_dir "$run_dir"
        rm -f -- "$STATE_FILE"
        exit 1
    fi
    exec 9>&-
    log "Kafka $KAFKA_VERSION ready at $brokers (start $(elapsed "$t1") s, total $(elapsed "$t0") s)"
    local who
    who=$(id -un)
    is_root && who=$KAFKA_USER
    log "  pid/pgid $pgid, as $who, dir $run_dir, state $STATE_FILE"
    printf 'export KAFKA_BROKERS=%s\n' "$brokers"
}

# ----------------------------------------------------------------------------------- stop/status

cmd_stop() {
    [[ -e "$STATE_FILE" ]] || { log "not running (no state file $STATE_FILE)"; return 0; }
    exec 9>"$STATE_FILE.lock"
    flock -w 300 9 || die "timed out waiting for $STATE_FILE.lock"
    if read_state "$STATE_FILE"; then
        kill_group "$S_PGID" "$S_STARTTIME"
        remove_run_dir "$S_RUN_DIR"
        log "stopped ${S_BROKERS:-the broker} (pgid $S_PGID)"
    fi
    rm -f -- "$STATE_FILE"
    exec 9>&-
}

# restart [--kill]: stop the broker (SIGTERM as an orchestrator would, or SIGKILL as a crash) and
# start it again in the same run dir, so that its data survives, on the same ports.
cmd_restart() {
    local sig=TERM
    [[ "${1:-}" == "--kill" ]] && sig=KILL
    read_state "$STATE_FILE" || die "not running (no state file $STATE_FILE)"
    local run_dir=$S_RUN_DIR
    [[ -f "$run_dir/config/server.properties" ]] || die "state file $STATE_FILE names no run dir"
    kill_group "$S_PGID" "$S_STARTTIME" "$sig"
    log "stopped ${S_BROKERS} with SIG$sig (pgid $S_PGID); starting it again"
    RESTART_RUN_DIR=$run_dir cmd_start
}

cmd_status() {
    if read_state "$STATE_FILE" && group_alive "$S_PGID" "$S_STARTTIME"; then
        echo "running: $S_BROKERS (pgid $S_PGID, dir $S_RUN_DIR)"
        printf 'export KAFKA_BROKERS=%s\n' "$S_BROKERS"
    else
        echo "not running (state file $STATE_FILE)"
        return 1
    fi
}

# ------------------------------------------------------------------------------------------ run

cmd_run() { run_with_daemon SHIPPER_KAFKA_STATE shipper-kafka-state KAFKA_BROKERS "$@"; }

usage() {
    sed -n '2,/^# Environment:/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case "$cmd" in
    fetch) cmd_fetch ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_restart "$@" ;;
    status) cmd_status ;;
    run) cmd_run "$@" ;;
    *) usage ;;
    esac
}

main "$@"
