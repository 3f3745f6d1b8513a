#!/usr/bin/env bash
# Runs each of Tessera's fuzz targets for a bounded time and reports executions per target.
#
#   ./scripts/fuzz.sh            # 60 s per target
#   ./scripts/fuzz.sh 600        # 10 minutes per target
#   ./scripts/fuzz.sh 60 jws     # only the named targets
#
# The targets' bodies are in crates/fuzzing (tessera_fuzzing::TARGETS); fuzz/ wraps them for
# libFuzzer through cargo-fuzz, which is installed when missing. cargo-fuzz needs nightly flags;
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
#
# Each target starts from its seeds (fuzz/seeds/<target>, committed) and its past failures
# (fuzz/regressions/<target>, committed) and grows a working corpus in fuzz/corpus/<target>
# (not committed). An input that makes a target fail is copied to fuzz/regressions/<target>/,
# from where `cargo test` (crates/fuzzing/tests/replay.rs) replays it on every run; the script
# then exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "Installing cargo-fuzz..." >&2
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi

(cd fuzz && cargo fuzz build)

summary=fuzz/corpus/summary.md
mkdir -p fuzz/corpus
{
    echo "Fuzz run $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds} s per target, $(nproc) cores"
    echo
    echo "| target | executions | execs/s | corpus | result |"
    echo "|---|---:|---:|---:|---|"
} >"$summary"

failed=0
for target in "${targets[@]}"; do
    corpus=fuzz/corpus/$target
    mkdir -p "$corpus" "fuzz/regressions/$target" "fuzz/artifacts/$target"
    rm -f fuzz/artifacts/"$target"/*
    log=fuzz/corpus/$target.log
    echo "== $target (${seconds} s)" >&2
    set +e
    (cd fuzz && cargo fuzz run "$target" "corpus/$target" "seeds/$target" "regressions/$target" -- \
        -max_total_time="$seconds" -max_len=16384 -timeout=5 -rss_limit_mb=2048 \
        -print_final_stats=1) >"$log" 2>&1
    status=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    files=$(find "$corpus" -type f | wc -l)
    result="no failure"
    if [ "$status" -ne 0 ]; then
        failed=1
        result="FAILED (exit $status): see $log"
        for crash in fuzz/artifacts/"$target"/*; do
            [ -f "$crash" ] || continue
            cp "$crash" "fuzz/regressions/$target/"
            result="$result; input kept as fuzz/regressions/$target/$(basename "$crash")"
        done
        tail -40 "$log" >&2
    fi
    echo "| $target | ${execs:-?} | ${rate:-?} | $files | $result |" >>"$summary"
done

cat "$summary"
exit "$failed"
