#!/usr/bin/env bash
# scripts/prereqs.sh: install what `make test` needs besides Go, when missing:
#   make                   to run the targets
#   gcc, libc6-dev         `go test -race` needs cgo
#   python3-fluent-logger  the Forward tests prove the server with Debian's Fluent client
#   fluent-logger (npm)    and with Node's, the client that sends batched (PackedForward)
#                          requests: installed with npm into
#                          ${SHIPPER_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shipper/node}
#   pino, winston, bunyan  Node's logging libraries, installed there too, and Debian's
#   python3-structlog,     Python ones: the lines they write are shipped into the real
#   python3-pythonjsonlogger  Elasticsearch (TestIntegrationLoggersNodePython)
# Uses apt-get (Debian/Ubuntu) as root, or through sudo when it is there; otherwise it
# says what to install and fails. Prints nothing when everything is present.
set -euo pipefail

NODE_PACKAGES=(fluent-logger@3.4.1 pino@9.14.0 winston@3.19.0 bunyan@2.0.5)
NODE_CACHE="${SHIPPER_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shipper/node}"

# node_client installs NODE_PACKAGES into NODE_CACHE when one is not there.
node_client() {
    local p need=0
    for p in "${NODE_PACKAGES[@]}"; do
        [[ -f "$NODE_CACHE/node_modules/${p%@*}/package.json" ]] || need=1
    done
    ((need)) || return 0
    echo "scripts/prereqs.sh: npm install ${NODE_PACKAGES[*]} into $NODE_CACHE"
    mkdir -p "$NODE_CACHE"
    npm install --prefix "$NODE_CACHE" --no-audit --no-fund --no-save --loglevel=error "${NODE_PACKAGES[@]}"
}

missing=()
command -v make >/dev/null || missing+=(make)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
/usr/bin/python3 -c 'import fluent.sender' 2>/dev/null || missing+=(python3 python3-fluent-logger)
/usr/bin/python3 -c 'import structlog, pythonjsonlogger' 2>/dev/null || missing+=(python3-structlog python3-pythonjsonlogger)
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]} == 0)); then
    node_client
    exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then
        sudo=(sudo)
    else
        echo "scripts/prereqs.sh: missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null; then
    echo "scripts/prereqs.sh: missing ${missing[*]} and no apt-get: install them with your package manager" >&2
    exit 1
fi
echo "scripts/prereqs.sh: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
node_client
