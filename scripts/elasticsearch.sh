#!/usr/bin/env bash
# scripts/elasticsearch.sh: fetch, cache, start and stop a REAL single-node Elasticsearch for
# tests and `make run`. Nothing has to be set up by hand (Debian bookworm; as root it installs
# what is missing with apt-get and creates an unprivileged system user).
#
#   scripts/elasticsearch.sh fetch             install tools if missing, download + unpack ES into the cache
#   scripts/elasticsearch.sh start             start a node on a free loopback port, wait for yellow
#   scripts/elasticsearch.sh stop              stop the node recorded in the state file, remove its temp dir
#   scripts/elasticsearch.sh restart           stop the recorded node and start it again on the same port
#                                              with the same data (fault tests: Elasticsearch going away)
#   scripts/elasticsearch.sh status            print the state of the recorded node
#   scripts/elasticsearch.sh run -- CMD...     fetch + start a PRIVATE node, run CMD with ELASTICSEARCH_URL
#                                              exported, always stop, exit with CMD's status
#
# Environment:
#   SHIPPER_ES_CACHE          unpacked distribution (default ${XDG_CACHE_HOME:-$HOME/.cache}/shipper/elasticsearch-<VERSION>)
#   SHIPPER_ES_STATE          state file of start/stop/status (default ${XDG_STATE_HOME:-$HOME/.local/state}/shipper/elasticsearch.state);
#                             `run` uses a private one unless this is set
#   SHIPPER_ES_USER           user the node runs as when we are root (default shipper-es)
#   SHIPPER_ES_JAVA_HOME      JDK 17+ to use (default: /usr/lib/jvm/java-17-openjdk-*)
#   SHIPPER_ES_HEAP           heap size (default 512m)
#   SHIPPER_ES_PORT           HTTP port (default 0 = the kernel picks a free one)
#   SHIPPER_ES_START_TIMEOUT  seconds to wait for the node (default 120)
#   TMPDIR                    where the per-run temp dir goes (default /tmp)
#
# ------------------------------------------------------------------------------------------------
# VERSION. Pinned below: the newest 8.19.x of the integ-test-zip on Maven Central (9.x needs Java
# 21, which bookworm does not have). Checked 2026-11-23 with
#
#   mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get \
#       -Dartifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:RELEASE:pom -Dtransitive=false
#   cat ~/.m2/repository/org/elasticsearch/distribution/integ-test-zip/elasticsearch/maven-metadata-central.xml
#
# (resolving RELEASE makes Maven download maven-metadata.xml). It says <release>8.19.21</release>
# and lists, for 8.19: 8.19.0 8.19.2 8.19.4 8.19.21 (no 9.x at all under this groupId). Probing
# `...:get -Dartifact=...:elasticsearch:<v>:pom` for 8.19.20 and 8.19.22..8.19.25 fails ("Could
# not find artifact"), so 8.19.21 is the newest. (Maven 3.8.7's default dependency plugin 2.8 and
# 3.8.1's `get` do NOT resolve version ranges like [8.19.0,8.20.0): they look for it literally.)
#
# ------------------------------------------------------------------------------------------------
# FINDINGS, verified 2026-11-23 against 8.19.21 started by this script (OpenJDK 17.0.15):
#  * Modules (GET _nodes?filter_path=**.modules.name): apm, transport-netty4, x-pack-core,
#    x-pack-security. Nothing else: no data-streams, aggregations, mapper-extras, ingest-common,
#    lang-painless, reindex, rest-root, ILM, stack templates, constant-keyword, wildcard...
#    GET _index_template and GET _component_template are empty: no built-in logs-*-* template.
#  * GET / -> 405 {"error":"Incorrect HTTP method for uri [/] and method [GET], allowed: [DELETE]"}.
#    Readiness: GET /_cluster/health?wait_for_status=yellow works.
#  * Data streams. PUT _index_template/x {"index_patterns":["logs-*-*"],"data_stream":{},...} -> 200,
#    and a bulk `create` into logs-x-default AUTO-CREATES the data stream (backing index
#    .ds-logs-x-default-2026.11.23-000001, hidden). `index` op -> 400 "only write ops with an
#    op_type of create are allowed in data streams"; no @timestamp -> 400 document_parsing_exception
#    "data stream timestamp field [@timestamp] is missing". POST <ds>/_rollover works.
#  * There is NO _data_stream REST API: GET/PUT/DELETE /_data_stream/<name> -> 405 "Incorrect HTTP
#    method for uri [/_data_stream/logs-x-default] and method [GET], allowed: [POST]", and
#    GET /_data_stream -> 400 invalid_index_name_exception "Invalid index name [_data_stream], must
#    not start with '_'". Instead: GET /_resolve/index/logs-* (lists data_streams with
#    backing_indices) or GET /_cluster/state/metadata?filter_path=metadata.data_stream.
#  * A data stream CANNOT BE DELETED here: DELETE /logs-x-default -> 404 index_not_found_exception
#    ("excluded_ds":"true"); DELETE /logs-* -> 200 but deletes nothing; deleting the write index ->
#    400 "index [.ds-...-000002] is the write index for data stream [logs-x-default] and cannot be
#    deleted"; older backing indices can be deleted. To empty a stream: _rollover, then DELETE the
#    old backing indices (estest.DeleteDataStream does that). DELETE _index_template/x while a
#    stream uses it -> 400 "unable to remove composable templates [x] as they are in use by a data
#    streams [...]". So: unique data stream names per test; the node is thrown away after the run.
#  * Mapping types accepted in a template: keyword, text, date, date_nanos (also as @timestamp),
#    long, integer, double, float, half_float, boolean, ip, geo_point, object, nested, flattened
#    (indexes and queries fine). REJECTED (400, same message for each):
#    match_only_text, wildcard, constant_keyword, scaled_float, version, unsigned_long ->
#    "composable template [t] template after composition is invalid" caused by mapper_parsing_exception
#    "The mapper type [match_only_text] declared on field [f] does not exist. It might have been
#    created within a future version or requires a plugin to be installed. Check the documentation."
#  * template.data_stream_options.failure_store.enabled=true: ACCEPTED and stored on the stream
#    ("options":{"failure_store":{"enabled":true}}), but NOT USED: a mapping failure still comes back
#    as a 400 item (document_parsing_exception) and <ds>::failures stays empty, because the
#    data_stream.failure_store node feature comes from the absent data-streams module (GET
#    _cluster/state?filter_path=nodes_features has no data-stream feature). The old form
#    "data_stream":{"failure_store":true} -> 200 but silently ignored. Do not rely on it here.
#  * template.lifecycle {"data_retention":"7d"}: ACCEPTED and stored on the stream
#    ("lifecycle":{"enabled":true,"data_retention":"7d"}) but nothing enforces it (the DSL service
#    is in the data-streams module; there is no ILM either).
#  * index.mapping.total_fields.ignore_dynamic_beyond_limit=true: ACCEPTED and WORKS: with
#    total_fields.limit 3, a document with 5 new fields is indexed (201), 2 fields mapped, the rest
#    listed in _ignored. Also accepted: index.mode=logsdb, index.mapping.source.mode=synthetic,
#    "subobjects":false, index.mapping.ignore_malformed.
#  * Duplicate keys are REJECTED per item (the rest of the bulk is indexed), HTTP 200 errors:true,
#    item status 400: {"type":"document_parsing_exception","reason":"[1:48] failed to parse: [1:61]
#    Duplicate field 'message'\n at [Source: ...]", caused_by x_content_parse_exception caused_by
#    json_parse_exception "Duplicate field 'message'"}. Nested objects too ("Duplicate field 'log'").
#    A duplicate key in the ACTION line fails the whole request: HTTP 400 x_content_parse_exception
#    "[1:22] Duplicate field 'create'". But {"log.level":"a","log":{"level":"b"}} is NOT a duplicate:
#    accepted, and log.level gets both values.
#  * Other bulk errors: body without a final newline -> HTTP 400 illegal_argument_exception "The bulk
#    request must be terminated by a newline [\n]"; truncated JSON document -> item 400
#    document_parsing_exception (json_e_o_f_exception); Content-Type given twice -> 400
#    media_type_header_exception.
#  * Search: terms, date_histogram, max, value_count, cardinality and filters aggregations WORK.
#    No painless (script query -> "script_lang not supported [painless]"), no _delete_by_query
#    ("no handler found for uri [/logs-x-default/_delete_by_query] and method [POST]"), no ingest
#    processors (PUT _ingest/pipeline with "set" -> "No processor type exists with name [set]").
#  * License: basic (GET _license). GET /_xpack -> 500 (monitoring action missing).
#  * Template settings need number_of_replicas 0 for green; with the default 1 the cluster is
#    yellow (single node), which wait_for_status=yellow accepts.
#  * Runtime: start to yellow ~6-8 s (2 vCPU); fetch from Maven Central 5-22 s cold (107 MB zip,
#    also kept in ~/.m2), ~0 s cached. Warnings only (loopback = dev mode): vm.max_map_count 65530,
#    max file descriptors 20000.
# ------------------------------------------------------------------------------------------------
set -euo pipefail

ES_VERSION=8.19.21
ES_ARTIFACT="org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip"
MVN_DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

CACHE_DIR="${SHIPPER_ES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shipper/elasticsearch-${ES_VERSION}}"
CACHE_DIR="${CACHE_DIR%/}"
STATE_FILE="${SHIPPER_ES_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/shipper/elasticsearch.state}"
ES_USER="${SHIPPER_ES_USER:-shipper-es}"
ES_HEAP="${SHIPPER_ES_HEAP:-512m}"
ES_PORT="${SHIPPER_ES_PORT:-0}"
START_TIMEOUT="${SHIPPER_ES_START_TIMEOUT:-120}"
STOP_TIMEOUT=30

log() { printf '[elasticsearch.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
DAEMON_NOUN=node # in messages of kill_group
DAEMON_RUN_PREFIX=shipper-es # remove_run_dir removes only directories named <prefix>.*
# shellcheck source=lib/daemon.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/daemon.sh"

# ---------------------------------------------------------------------------------------- fetch

find_java_home() {
    if [[ -n "${SHIPPER_ES_JAVA_HOME:-}" ]]; then
        [[ -x "$SHIPPER_ES_JAVA_HOME/bin/java" ]] || die "SHIPPER_ES_JAVA_HOME=$SHIPPER_ES_JAVA_HOME has no bin/java"
        printf '%s\n' "$SHIPPER_ES_JAVA_HOME"
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
    command -v unzip >/dev/null || missing+=(unzip)
    command -v curl >/dev/null || missing+=(curl)
    command -v flock >/dev/null || missing+=(util-linux)
    if ((${#missing[@]})); then
        apt_install "${missing[@]}"
    fi
    find_java_home >/dev/null || die "no JDK 17 found in /usr/lib/jvm (set SHIPPER_ES_JAVA_HOME)"
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
        # Leftovers of an interrupted fetch (we hold the lock: nobody else is fetching).
        rm -rf -- "$CACHE_DIR" "$parent/.fetch-${ES_VERSION}."*
        local tmp
        tmp=$(mktemp -d "$parent/.fetch-${ES_VERSION}.XXXXXX")
        local dist="$tmp/elasticsearch-${ES_VERSION}"
        log "downloading $ES_ARTIFACT from Maven Central"
        # --strict-checksums: fail on a checksum mismatch instead of warning.
        if ! mvn -B -q --strict-checksums "$MVN_DEPENDENCY_PLUGIN:copy" \
            -Dartifact="$ES_ARTIFACT" -DoutputDirectory="$tmp" >"$tmp/mvn.log" 2>&1; then
            cat "$tmp/mvn.log" >&2
            rm -rf -- "$tmp"
            die "mvn could not download $ES_ARTIFACT"
        fi
        # chmod: the zip has 0660 config files and the node runs as another user.
        # mv -T: atomic on the same filesystem; the marker file says "complete".
        if ! { unzip -q "$tmp/elasticsearch-${ES_VERSION}.zip" -d "$tmp" &&
            [[ -x "$dist/bin/elasticsearch" ]] &&
            chmod -R a+rX "$dist" &&
            date -u +%FT%TZ >"$dist/.shipper-complete" &&
            mv -T "$dist" "$CACHE_DIR"; }; then
            rm -rf -- "$tmp"
            die "could not unpack elasticsearch-${ES_VERSION}.zip"
        fi
        rm -rf -- "$tmp"
        log "fetched into $CACHE_DIR ($(elapsed "$t0") s)"
    else
        log "cached (fetched concurrently): $CACHE_DIR ($(elapsed "$t0") s)"
    fi
    exec 8>&-
}

# ------------------------------------------------------------------------------- state helpers

# read_state FILE: sets S_PGID S_STARTTIME S_URL S_RUN_DIR (empty if absent).
read_state() {
    S_PGID='' S_STARTTIME='' S_URL='' S_RUN_DIR=''
    [[ -s "$1" ]] || return 1
    local k v
    while IFS='=' read -r k v; do
        case "$k" in
        pgid) S_PGID=$v ;;
        starttime) S_STARTTIME=$v ;;
        url) S_URL=$v ;;
        run_dir) S_RUN_DIR=$v ;;
        esac
    done <"$1"
    [[ "$S_PGID" =~ ^[0-9]+$ ]]
}

# ---------------------------------------------------------------------------------------- start

print_log_tail() {
    local run_dir=$1 f
    for f in "$run_dir/logs/stdout.log" "$run_dir/logs/shipper-test.log"; do
        [[ -s "$f" ]] || continue
        log "---- tail of $f"
        tail -n 60 "$f" >&2
    done
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
            printf 'export ELASTICSEARCH_URL=%s\n' "$S_URL"
            return 0
        fi
        log "removing stale state (process group $S_PGID is gone)"
        remove_run_dir "$S_RUN_DIR"
    fi
    rm -f -- "$STATE_FILE"

    local -a as_user=()
    if is_root; then
        ensure_user "$ES_USER" "shipper test Elasticsearch"
        as_user=(setpriv --reuid="$ES_USER" --regid="$(id -g "$ES_USER")" --init-groups)
    fi

    # Per-run dir: home/ (hard links to the cache; the cache may sit under a 0700 $HOME, and the
    # launcher cd's into ES_HOME), config/ (ES writes the keystore there), data/, logs/, tmp/.
    local run_dir=$restart_dir
    if [[ -z "$restart_dir" ]]; then
    run_dir=$(mktemp -d "${TMPDIR:-/tmp}/shipper-es.XXXXXX")
    chmod 0755 "$run_dir"
    if ! cp -al "$CACHE_DIR" "$run_dir/home" 2>/dev/null; then
        rm -rf -- "${run_dir:?}/home"
        cp -a "$CACHE_DIR" "$run_dir/home"
    fi
    rm -rf -- "$run_dir/home/config"
    cp -r "$CACHE_DIR/config" "$run_dir/config"
    mkdir -p "$run_dir/data" "$run_dir/logs" "$run_dir/tmp"
    cat >>"$run_dir/config/elasticsearch.yml" <<EOF

# ---- added by scripts/elasticsearch.sh (before the first start: no security auto-configuration)
cluster.name: shipper-test
node.name: shipper-es-1
discovery.type: single-node
xpack.security.enabled: false
network.host: 127.0.0.1
http.port: ${ES_PORT}
transport.port: 0
# writes logs/http.ports and logs/transport.ports with the ports actually bound (port 0 = free)
node.portsfile: true
path.data: ${run_dir}/data
path.logs: ${run_dir}/logs
action.destructive_requires_name: false
cluster.routing.allocation.disk.threshold_enabled: false
EOF
    if is_root; then
        # Directories (new inodes) only: chown on the hard-linked files would change the cache.
        find "$run_dir/home" -type d -exec chown "$ES_USER:" {} +
        chown -R "$ES_USER:" "$run_dir/config" "$run_dir/data" "$run_dir/logs" "$run_dir/tmp"
        "${as_user[@]}" test -r "$run_dir/home/lib/elasticsearch-${ES_VERSION}.jar" ||
            { remove_run_dir "$run_dir"; die "$ES_USER cannot read $run_dir (TMPDIR=${TMPDIR:-/tmp} not accessible?)"; }
    fi
    fi # a new run dir

    # setsid: own session and process group, so that stop can kill the launcher and the server
    # JVM together and a Ctrl-C in the terminal does not reach it. The bash records its pid
    # (= the process group id) and execs the node.
    local t1
    t1=$(now)
    # shellcheck disable=SC2016 # $$ and $@ are for the inner bash
    setsid bash -c 'echo $$ >"$1/pgid"; shift; exec "$@"' _ "$run_dir" \
        "${as_user[@]}" env -i \
        PATH=/usr/local/bin:/usr/bin:/bin \
        HOME="$run_dir/tmp" \
        LANG=C.UTF-8 \
        ES_JAVA_HOME="$java_home" \
        ES_PATH_CONF="$run_dir/config" \
        ES_TMPDIR="$run_dir/tmp" \
        CLI_JAVA_OPTS="-Djava.io.tmpdir=$run_dir/tmp" \
        ES_JAVA_OPTS="-Xms${ES_HEAP} -Xmx${ES_HEAP}" \
        "$run_dir/home/bin/elasticsearch" </dev/null >"$run_dir/logs/stdout.log" 2>&1 8>&- 9>&- &
    local i pgid=''
    for ((i = 0; i < 50; i++)); do
        [[ -s "$run_dir/pgid" ]] && pgid=$(<"$run_dir/pgid") && break
        sleep 0.1
    done
    [[ -n "$pgid" ]] || { remove_run_dir "$run_dir"; die "could not start the node"; }
    local starttime
    starttime=$(proc_starttime "$pgid")
    {
        echo "pgid=$pgid"
        echo "starttime=$starttime"
        echo "url="
        echo "run_dir=$run_dir"
        echo "version=$ES_VERSION"
    } >"$STATE_FILE.tmp"
    mv -f -- "$STATE_FILE.tmp" "$STATE_FILE"

    # Wait: the ports file, then yellow health.
    local deadline=$((SECONDS + START_TIMEOUT)) url='' fail=''
    while :; do
        if ! group_alive "$pgid" "$starttime"; then
            fail="the node exited"
            break
        fi
        if ((SECONDS >= deadline)); then
            fail="the node was not ready after ${START_TIMEOUT}s"
            break
        fi
        if [[ -z "$url" && -s "$run_dir/logs/http.ports" ]]; then
            url="http://$(head -n 1 "$run_dir/logs/http.ports")"
        fi
        if [[ -n "$url" ]] &&
            curl -fsS -o /dev/null --max-time 12 "$url/_cluster/health?wait_for_status=yellow&timeout=10s" 2>/dev/null; then
            break
        fi
        sleep 0.5
    done
    if [[ -n "$fail" ]]; then
        log "ERROR: $fail"
        print_log_tail "$run_dir"
        kill_group "$pgid" "$starttime"
        remove_run_dir "$run_dir"
        rm -f -- "$STATE_FILE"
        exit 1
    fi
    sed -i "s|^url=.*|url=$url|" "$STATE_FILE"
    exec 9>&-
    log "Elasticsearch $ES_VERSION ready at $url (start $(elapsed "$t1") s, total $(elapsed "$t0") s)"
    local who
    who=$(id -un)
    is_root && who=$ES_USER
    log "  pid/pgid $pgid, as $who, dir $run_dir, state $STATE_FILE"
    printf 'export ELASTICSEARCH_URL=%s\n' "$url"
}

# ----------------------------------------------------------------------------------- stop/status

cmd_stop() {
    [[ -e "$STATE_FILE" ]] || { log "not running (no state file $STATE_FILE)"; return 0; }
    exec 9>"$STATE_FILE.lock"
    flock -w 300 9 || die "timed out waiting for $STATE_FILE.lock"
    if read_state "$STATE_FILE"; then
        kill_group "$S_PGID" "$S_STARTTIME"
        remove_run_dir "$S_RUN_DIR"
        log "stopped ${S_URL:-the node} (pgid $S_PGID)"
    fi
    rm -f -- "$STATE_FILE"
    exec 9>&-
}

# restart: stop the node (SIGTERM, as an orchestrator would) and start it again in the same run
# dir, so that its data survives, on the same HTTP port.
cmd_restart() {
    read_state "$STATE_FILE" || die "not running (no state file $STATE_FILE)"
    local run_dir=$S_RUN_DIR port=${S_URL##*:}
    [[ "$port" =~ ^[0-9]+$ && -d "$run_dir/data" ]] || die "state file $STATE_FILE names no port or run dir"
    kill_group "$S_PGID" "$S_STARTTIME"
    log "stopped ${S_URL} (pgid $S_PGID); starting it again on port $port"
    sed -i "s|^http.port: .*|http.port: ${port}|" "$run_dir/config/elasticsearch.yml"
    rm -f -- "$run_dir/logs/http.ports" "$run_dir/pgid"
    RESTART_RUN_DIR=$run_dir cmd_start
}

cmd_status() {
    if read_state "$STATE_FILE" && group_alive "$S_PGID" "$S_STARTTIME"; then
        echo "running: $S_URL (pgid $S_PGID, dir $S_RUN_DIR)"
        printf 'export ELASTICSEARCH_URL=%s\n' "$S_URL"
    else
        echo "not running (state file $STATE_FILE)"
        return 1
    fi
}

# ------------------------------------------------------------------------------------------ run

cmd_run() { run_with_daemon SHIPPER_ES_STATE shipper-es-state ELASTICSEARCH_URL "$@"; }

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
    restart) cmd_restart ;;
    status) cmd_status ;;
    run) cmd_run "$@" ;;
    *) usage ;;
    esac
}

main "$@"
