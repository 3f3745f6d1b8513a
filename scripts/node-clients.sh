#!/usr/bin/env bash
# Prepares the Node.js relying parties the integration tests run against the server
# (crates/server/tests/clients/openid-client: panva's openid-client) and exports their paths
# (TESSERA_TEST_NODE, TESSERA_TEST_OPENID_CLIENT_DIR). Sourced by scripts/test.sh.
#
# Needs Node.js 20 or newer with npm on PATH (openid-client v6 relies on Node 20's WebCrypto and
# fetch; Debian bookworm's nodejs package is 18, too old, so nothing is installed here).
# Dependencies come from the committed package-lock.json via `npm ci`, re-run only when
# node_modules is missing or older than the lock file.

ensure_node_clients() {
    local dir
    dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/crates/server/tests/clients/openid-client"
    local node
    node="$(command -v node || true)"
    if [ -z "$node" ] || ! command -v npm >/dev/null 2>&1; then
        echo "Node.js 20+ and npm are needed for the openid-client tests: install them first" >&2
        return 1
    fi
    local major
    major="$("$node" -p 'process.versions.node.split(".")[0]')"
    if [ "$major" -lt 20 ]; then
        echo "Node.js $("$node" --version) is too old for openid-client v6: 20 or newer is needed" >&2
        return 1
    fi
    # npm writes node_modules/.package-lock.json on every install: it dates node_modules.
    if [ ! -f "$dir/node_modules/.package-lock.json" ] \
        || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        echo "Installing the Node.js test clients (npm ci in $dir)" >&2
        (cd "$dir" && npm ci --no-audit --no-fund >&2) || return 1
    fi
    TESSERA_TEST_NODE="$node"
    TESSERA_TEST_OPENID_CLIENT_DIR="$dir"
    export TESSERA_TEST_NODE TESSERA_TEST_OPENID_CLIENT_DIR
}
