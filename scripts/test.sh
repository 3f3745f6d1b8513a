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
# Relying parties: Debian's apache2-bin and libapache2-mod-auth-openidc are installed when
# missing; Node's openid-client, oidc-provider and oidc-client-ts come from their committed lock
# files (npm ci).
#
# Load balancer: Debian's haproxy is installed when missing, for three instances behind it.
#
# TLS-terminating proxy: Debian's nginx-light is installed when missing, for mutual TLS behind a
# proxy.
#
# Mail: the password reset tests mail to an SMTP sink on Python's aiosmtpd, installed from PyPI
# (pinned) into a virtual environment by scripts/smtp-sink.sh.
#
# Supply chain: scripts/deny.sh (cargo-deny, installed when missing) checks Cargo.lock first.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/throwaway-postgres.sh
source scripts/throwaway-postgres.sh
# shellcheck source=scripts/browser.sh
source scripts/browser.sh
# shellcheck source=scripts/apache.sh
source scripts/apache.sh
# shellcheck source=scripts/node-clients.sh
source scripts/node-clients.sh
# shellcheck source=scripts/smtp-sink.sh
source scripts/smtp-sink.sh
# shellcheck source=scripts/haproxy.sh
source scripts/haproxy.sh
# shellcheck source=scripts/nginx.sh
source scripts/nginx.sh

if [ -z "${TESSERA_TEST_CHROMEDRIVER:-}" ]; then
    ensure_chromium
fi
echo "Browser for tests: $TESSERA_TEST_CHROMIUM" >&2
if [ -z "${TESSERA_TEST_APACHE2:-}" ]; then
    ensure_apache
fi
if [ -z "${TESSERA_TEST_OPENID_CLIENT_DIR:-}" ] || [ -z "${TESSERA_TEST_OIDC_PROVIDER_DIR:-}" ] \
    || [ -z "${TESSERA_TEST_OIDC_CLIENT_TS_DIR:-}" ]; then
    ensure_node_clients
fi
if [ -z "${TESSERA_TEST_PYTHON:-}" ]; then
    ensure_smtp_sink
fi
if [ -z "${TESSERA_TEST_HAPROXY:-}" ]; then
    ensure_haproxy
fi
if [ -z "${TESSERA_TEST_NGINX:-}" ]; then
    ensure_nginx
fi

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
