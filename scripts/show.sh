#!/usr/bin/env bash
# scripts/show.sh [URL]: print what the shipper wrote into Elasticsearch.
#
# Refreshes logs-*, then prints the document count of the log data streams, the
# counts per log.level, three sample documents, the dead-letter stream
# (logs-shipper.deadletter-default) if it exists, and example curl commands.
# The node is $1 or $ELASTICSEARCH_URL. Uses python3 for the JSON if it is
# there, else sed and Elasticsearch's own ?pretty.
set -euo pipefail

ES="${1:-${ELASTICSEARCH_URL:-}}"
ES="${ES%/}"
[[ -n "$ES" ]] || { echo "show.sh: set ELASTICSEARCH_URL (or pass the URL); \`make es-start\` starts a node" >&2; exit 1; }

DEADLETTER=logs-shipper.deadletter-default
# Everything under logs-* except the dead-letter stream.
LOGS="${SHOW_INDEX:-logs-*,-logs-shipper.deadletter-*}"
LEVELS=(trace debug info warn warning error fatal panic critical)

have() { command -v "$1" >/dev/null 2>&1; }

# es METHOD PATH [BODY]: print the body; fail on transport errors or non-2xx.
es() {
    local method=$1 path=$2 body=${3:-}
    local -a args=(-sS -X "$method" --max-time 60 -w '\n%{http_code}')
    [[ -n "$body" ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    local out code
    out=$(curl "${args[@]}" "$ES$path") || { echo "show.sh: cannot reach $ES" >&2; return 1; }
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    printf '%s\n' "$out"
    [[ "$code" == 2?? ]]
}

# count_of JSON: the "count" of a _count response.
count_of() { sed -n 's/.*"count":\([0-9][0-9]*\).*/\1/p' <<<"$1"; }

# url_path PATTERN: percent-encode the characters of an index pattern that curl would mangle.
url_path() { local s=${1//\*/%2A}; s=${s//,/%2C}; printf '%s' "$s"; }

echo "== Elasticsearch $ES"
es POST "/$(url_path 'logs-*')/_refresh?allow_no_indices=true&ignore_unavailable=true" >/dev/null ||
    { echo "show.sh: refresh failed" >&2; exit 1; }

streams=$(es GET "/_resolve/index/$(url_path 'logs-*')" || true)
if have python3; then
    names=$(python3 -c 'import json,sys; print(" ".join(d["name"] for d in json.load(sys.stdin).get("data_streams", [])))' <<<"$streams" 2>/dev/null || true)
else
    names=$(grep -o '"name":"[^"]*","backing_indices"' <<<"$streams" | sed 's/"name":"\([^"]*\)".*/\1/' | tr '\n' ' ' || true)
fi
echo "data streams: ${names:-(none)}"

total=$(count_of "$(es GET "/$(url_path "$LOGS")/_count?allow_no_indices=true&ignore_unavailable=true")")
echo
echo "== documents in $LOGS: ${total:-?}"

echo
echo "== per log.level"
if [[ "${total:-0}" == 0 ]]; then
    echo "  (no documents)"
fi
aggs_body='{"size":0,"aggs":{"levels":{"terms":{"field":"log.level","size":50,"missing":"(none)"}}}}'
if [[ "${total:-0}" == 0 ]]; then
    :
elif resp=$(es POST "/$(url_path "$LOGS")/_search?allow_no_indices=true&ignore_unavailable=true" "$aggs_body" 2>/dev/null) &&
    grep -q '"buckets"' <<<"$resp" && have python3; then
    python3 -c '
import json, sys
r = json.load(sys.stdin)
for b in r["aggregations"]["levels"]["buckets"]:
    print("  %-10s %d" % (b["key"], b["doc_count"]))
if not r["aggregations"]["levels"]["buckets"]:
    print("  (no documents)")
' <<<"$resp"
else
    # No terms aggregation (or no python3): one _count per well-known level.
    for lvl in "${LEVELS[@]}"; do
        n=$(count_of "$(es POST "/$(url_path "$LOGS")/_count?allow_no_indices=true&ignore_unavailable=true" \
            "{\"query\":{\"term\":{\"log.level\":\"$lvl\"}}}" || true)")
        if [[ -n "$n" && "$n" != 0 ]]; then printf '  %-10s %s\n' "$lvl" "$n"; fi
    done
    n=$(count_of "$(es POST "/$(url_path "$LOGS")/_count?allow_no_indices=true&ignore_unavailable=true" \
        '{"query":{"bool":{"must_not":{"exists":{"field":"log.level"}}}}}' || true)")
    if [[ -n "$n" && "$n" != 0 ]]; then printf '  %-10s %s\n' "(none)" "$n"; fi
fi

echo
echo "== 3 sample documents (newest first)"
resp=$(es GET "/$(url_path "$LOGS")/_search?allow_no_indices=true&ignore_unavailable=true&size=3&sort=@timestamp:desc" || true)
if have python3; then
    python3 -c '
import json, sys
try:
    hits = json.load(sys.stdin)["hits"]["hits"]
except Exception as e:
    print("  (search failed: %s)" % e); sys.exit(0)
if not hits:
    print("  (no documents)")
for h in hits:
    print("--- %s/_doc/%s" % (h["_index"], h["_id"]))
    print(json.dumps(h["_source"], indent=2, ensure_ascii=False))
' <<<"$resp"
else
    es GET "/$(url_path "$LOGS")/_search?allow_no_indices=true&ignore_unavailable=true&size=3&sort=@timestamp:desc&pretty&filter_path=hits.hits._index,hits.hits._source" || true
fi

echo
ds=$(es GET "/_resolve/index/$DEADLETTER" || true)
if grep -q "\"name\":\"$DEADLETTER\"" <<<"$ds"; then
    n=$(count_of "$(es GET "/$DEADLETTER/_count")")
    echo "== dead-letter stream $DEADLETTER: ${n:-?} documents"
    if [[ "${n:-0}" != 0 ]]; then
        echo "newest:"
        es GET "/$DEADLETTER/_search?size=1&sort=@timestamp:desc&filter_path=hits.hits._source&pretty" || true
    fi
else
    echo "== dead-letter stream $DEADLETTER: does not exist (nothing was dead-lettered)"
fi

cat <<EOF

== try it yourself
  export ELASTICSEARCH_URL=$ES
  # data streams and their backing indices
  curl -s "\$ELASTICSEARCH_URL/_resolve/index/logs-*?pretty"
  # number of documents; the newest 5; errors only (query string)
  curl -s "\$ELASTICSEARCH_URL/logs-*/_count?pretty"
  curl -s "\$ELASTICSEARCH_URL/logs-*/_search?pretty&size=5&sort=@timestamp:desc"
  curl -s "\$ELASTICSEARCH_URL/logs-*/_search?pretty&q=log.level:error"
  # errors of the last hour (query DSL)
  curl -s -H 'Content-Type: application/json' "\$ELASTICSEARCH_URL/logs-*/_search?pretty" \\
       -d '{"size":3,"query":{"bool":{"filter":[{"term":{"log.level":"error"}},{"range":{"@timestamp":{"gte":"now-1h"}}}]}}}'
  # counts per level
  curl -s -H 'Content-Type: application/json' "\$ELASTICSEARCH_URL/logs-*/_search?pretty" \\
       -d '{"size":0,"aggs":{"levels":{"terms":{"field":"log.level"}}}}'
  # dead letters
  curl -s "\$ELASTICSEARCH_URL/$DEADLETTER/_search?pretty"
EOF
