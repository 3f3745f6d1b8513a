#!/usr/bin/env bash
# Prepares the Node.js programs the integration tests run against the server and exports their
# paths. Sourced by scripts/test.sh.
#   crates/server/tests/clients/openid-client: panva's openid-client, a relying party
#     (TESSERA_TEST_OPENID_CLIENT_DIR)
#   crates/server/tests/clients/oidc-provider: panva's oidc-provider, the upstream OpenID
#     Provider of the identity federation tests (TESSERA_TEST_OIDC_PROVIDER_DIR)
#   crates/server/tests/clients/oidc-client-ts: oidc-client-ts's browser bundle, the library of
#     the single-page app the browser tests run (TESSERA_TEST_OIDC_CLIENT_TS_DIR)
# and the node binary both run with (TESSERA_TEST_NODE).
#
# Needs Node.js 20 or newer with npm on PATH (openid-client v6 and oidc-provider v9 rely on
# Node 20's WebCrypto, fetch and crypto.hash; Debian bookworm's nodejs package is 18, too old, so
# nothing is installed here).
# Dependencies come from each directory's committed package-lock.json via `npm ci`, re-run only
# when that directory's node_modules is missing or older than its lock file.

ensure_node_clients() {
    local clients
    clients="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/crates/server/tests/clients"
    local node
    node="$(command -v node || true)"
    if [ -z "$node" ] || ! command -v npm >/dev/null 2>&1; then
        echo "Node.js 20+ and npm are needed for the openid-client and oidc-provider tests: install them first" >&2
        return 1
    fi
    local major
    major="$("$node" -p 'process.versions.node.split(".")[0]')"
    if [ "$major" -lt 20 ]; then
        echo "Node.js $("$node" --version) is too old for openid-client v6 and oidc-provider v9: 20 or newer is needed" >&2
        return 1
    fi
    local dir
    for dir in "$clients/openid-client" "$clients/oidc-provider" "$clients/oidc-client-ts"; do
        # npm writes node_modules/.package-lock.json on every install: it dates node_modules.
        if [ ! -f "$dir/node_modules/.package-lock.json" ] \
            || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
            echo "Installing the Node.js test programs (npm ci in $dir)" >&2
            (cd "$dir" && npm ci --no-audit --no-fund >&2) || return 1
        fi
    done
    TESSERA_TEST_NODE="$node"
    TESSERA_TEST_OPENID_CLIENT_DIR="$clients/openid-client"
    TESSERA_TEST_OIDC_PROVIDER_DIR="$clients/oidc-provider"
    TESSERA_TEST_OIDC_CLIENT_TS_DIR="$clients/oidc-client-ts"
    export TESSERA_TEST_NODE TESSERA_TEST_OPENID_CLIENT_DIR TESSERA_TEST_OIDC_PROVIDER_DIR \
        TESSERA_TEST_OIDC_CLIENT_TS_DIR
}
