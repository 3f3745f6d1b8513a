#!/usr/bin/env bash
# Runs Tessera's whole test suite: unit tests, store conformance on memory, SQLite and
# PostgreSQL, and the integration tests against the real server.
#
# PostgreSQL: when TESSERA_TEST_DATABASE_URL is unset, a throw-away cluster is started (initdb in
# a temporary directory, a free loopback port, trust authentication) and removed afterwards.
# Debian's postgresql package is installed first if no initdb can be found.
#
# Browser tests: Debian's chromium and chromium-driver are installed when missing.
#
# Supply chain: scripts/deny.sh (cargo-deny, installed when missing) checks Cargo.lock first.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/throwaway-postgres.sh
source scripts/throwaway-postgres.sh
# shellcheck source=scripts/browser.sh
source scripts/browser.sh

if [ -z "${TESSERA_TEST_CHROMEDRIVER:-}" ]; then
    ensure_chromium
fi
echo "Browser for tests: $TESSERA_TEST_CHROMIUM" >&2

if [ -z "${TESSERA_TEST_DATABASE_URL:-}" ]; then
    start_throwaway_postgres
    trap stop_throwaway_postgres EXIT
fi
echo "PostgreSQL for tests: ${TESSERA_TEST_DATABASE_URL%%@*}@..." >&2

# Supply chain (licenses, sources, bans, advisories when available): with the whole suite only.
if [ "$#" -eq 0 ]; then
    ./scripts/deny.sh
fi

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@"
else
    cargo test --workspace --no-fail-fast "$@"
fi
