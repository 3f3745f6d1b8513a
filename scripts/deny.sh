#!/usr/bin/env bash
# Supply-chain checks over Cargo.lock with cargo-deny (installed when missing), by deny.toml:
# licenses, bans and sources always; known vulnerabilities (RustSec advisories) when a copy of
# the advisory database is on this machine. Nothing is fetched: the database is updated by the
# offline step in SECURITY-STATUS.md ("Supply chain").
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deny --version >/dev/null 2>&1; then
    echo "Installing cargo-deny..." >&2
    cargo install cargo-deny --locked
fi

export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
# cargo-deny reads the whole graph, every platform's crates included; fetch them from the
# registry first, so that the checks themselves can run with --offline.
cargo fetch --locked --quiet
cargo deny --offline check bans licenses sources

if compgen -G "$CARGO_HOME/advisory-dbs/*/crates" >/dev/null; then
    cargo deny --offline check advisories
else
    echo "cargo deny: advisories NOT checked: no advisory database in $CARGO_HOME/advisory-dbs." >&2
    echo "  See \"Supply chain\" in SECURITY-STATUS.md for the offline update." >&2
fi
