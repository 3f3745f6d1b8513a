#!/usr/bin/env bash
# Machine-token throughput of a release build of Tessera, measured with wrk on loopback:
# client_credentials (JWT access token, ES256) and introspection of a reference token.
#
# Reports requests per second and requests per fully used server core (requests divided by
# the server process's CPU seconds, read from /proc), which is the figure that survives a noisy
# shared machine. The side-by-side comparison with a peer server is bench/README's harness.
#
# Usage: bench/machine_tokens.sh [BINARY] [DURATION] [CONNECTIONS]
set -euo pipefail
BIN=${1:-target/release/tessera}
DURATION=${2:-10s}
CONNECTIONS=${3:-16}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
[ -x "$BIN" ] || { echo "$BIN not found: cargo build --release" >&2; exit 1; }

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/tessera.toml" <<TOML
issuer = "http://127.0.0.1:$PORT"
listen = "127.0.0.1:$PORT"
database_url = "sqlite://$WORK/tessera.db"
[log]
level = "warn"
[[api_scopes]]
name = "api1.read"
[[api_resources]]
name = "urn:api1"
scopes = ["api1.read"]
secrets = ["api1-secret"]
[[clients]]
client_id = "machine"
secrets = ["machine-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
[[clients]]
client_id = "ref"
secrets = ["ref-secret"]
grant_types = ["client_credentials"]
allowed_scopes = ["api1.read"]
access_token_type = "reference"
TOML
"$BIN" --config "$WORK/tessera.toml" serve >"$WORK/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done

REF=$(curl -s -u ref:ref-secret -d grant_type=client_credentials "http://127.0.0.1:$PORT/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
TICKS=$(getconf CLK_TCK)

run() { # name, lua body, authorization, path
    cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = "$2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "$3"
LUA
    local before after out rps requests cpu
    before=$(cpu_ticks)
    out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/post.lua" "http://127.0.0.1:$PORT$4")
    after=$(cpu_ticks)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    cpu=$(python3 -c "print(($after - $before) / $TICKS)")
    per_core=$(python3 -c "print(round($requests / max($cpu, 0.001)))")
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$rps" "$per_core" "$cpu" "$p50" "$p99" "${non2xx:-0}"
}

echo "| request | req/s | req per server-core-second | server CPU s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|---|"
BASIC_MACHINE="Basic $(printf 'machine:machine-secret' | base64)"
BASIC_API="Basic $(printf 'urn%%3Aapi1:api1-secret' | base64)"
run "client_credentials, JWT ES256" "grant_type=client_credentials&scope=api1.read" "$BASIC_MACHINE" /token
run "introspection of a reference token" "token=$REF" "$BASIC_API" /introspect
echo
echo "($DURATION per run, $CONNECTIONS connections, wrk -t2; $(nproc) cores shared by wrk and the server)"
