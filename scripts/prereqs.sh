#!/usr/bin/env bash
# scripts/prereqs.sh: install what `make test` needs besides Go, when missing:
#   make                   to run the targets
#   gcc, libc6-dev         `go test -race` needs cgo
#   python3-fluent-logger  the Forward tests prove the server with Debian's Fluent client
#   fluent-logger (npm)    and with Node's, the client that sends batched (PackedForward)
#                          requests: installed with npm into
#                          ${SHIPPER_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shipper/node}
# Uses apt-get (Debian/Ubuntu) as root, or through sudo when it is there; otherwise it
# says what to install and fails. Prints nothing when everything is present.
set -euo pipefail

NODE_FLUENT_LOGGER=fluent-logger@3.4.1
NODE_CACHE="${SHIPPER_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shipper/node}"

# node_client installs Node's fluent-logger into NODE_CACHE when it is not there.
node_client() {
    [[ -f "$NODE_CACHE/node_modules/fluent-logger/package.json" ]] && return 0
    echo "scripts/prereqs.sh: npm install $NODE_FLUENT_LOGGER into $NODE_CACHE"
    mkdir -p "$NODE_CACHE"
    npm install --prefix "$NODE_CACHE" --no-audit --no-fund --no-save --loglevel=error "$NODE_FLUENT_LOGGER"
}

missing=()
command -v make >/dev/null || missing+=(make)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
/usr/bin/python3 -c 'import fluent.sender' 2>/dev/null || missing+=(python3 python3-fluent-logger)
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
