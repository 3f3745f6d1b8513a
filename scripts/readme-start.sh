#!/usr/bin/env bash
# Runs the README's start command exactly as written, in a clean clone of this repository, and
# waits until the server it starts answers discovery; then stops it. The command is read from
# the README (the first line of the first ```sh block after "**Start a server**"), so the README
# cannot drift from the code.
#
# The clone shares this checkout's target directory (CARGO_TARGET_DIR), so the release build
# is made once and reused by later runs, benchmarks and the conformance tool.
#
# Usage: scripts/readme-start.sh [TIMEOUT_SECONDS]   (default 1500: a cold release build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
timeout=${1:-1500}

command=$(awk '/^\*\*Start a server\*\*/ { found = 1 }
               found && /^```sh/ { getline; print; exit }' "$root/README.md")
if [ -z "$command" ]; then
    echo "readme-start: no command under \"**Start a server**\" in README.md" >&2
    exit 1
fi
# What the README says the server answers on, right after the command.
discovery=$(grep -o -m1 'curl -s http://localhost:[0-9]*/.well-known/openid-configuration' \
    "$root/README.md" | awk '{ print $3 }')
if [ -z "$discovery" ]; then
    echo "readme-start: README.md shows no discovery URL to try" >&2
    exit 1
fi
port=${discovery#http://localhost:}
port=${port%%/*}
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "readme-start: port $port is in use; the README's server needs it" >&2
    exit 1
fi

work=$(mktemp -d /tmp/tessera-readme.XXXXXX)
log="$work/server.log"
server=""
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -TERM -- "-$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

git clone --quiet "$root" "$work/clone"
echo "readme-start: running \`$command\` in a clean clone" >&2
(
    cd "$work/clone"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
    # A process group of its own, so that cargo and the server stop together.
    exec setsid bash -c "$command" >"$log" 2>&1
) &
server=$!

deadline=$((SECONDS + timeout))
until curl -sf "$discovery" -o "$work/discovery.json"; do
    if ! kill -0 "$server" 2>/dev/null; then
        echo "readme-start: the command exited before serving discovery; its output:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "readme-start: no discovery at $discovery after ${timeout}s; output:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
    sleep 1
done
issuer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["issuer"])' \
    "$work/discovery.json")
echo "readme-start: discovery answered at $discovery (issuer $issuer)" >&2
