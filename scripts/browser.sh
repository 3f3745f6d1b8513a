#!/usr/bin/env bash
# Makes Debian's Chromium and ChromeDriver available for the browser tests and exports their
# paths (TESSERA_TEST_CHROMIUM, TESSERA_TEST_CHROMEDRIVER). Sourced by scripts/test.sh.

ensure_chromium() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        echo "Chromium not found: installing Debian's chromium and chromium-driver packages" >&2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >&2 || {
            $sudo apt-get update -qq >&2
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >&2
        }
    fi
    TESSERA_TEST_CHROMIUM="$(command -v chromium)"
    TESSERA_TEST_CHROMEDRIVER="$(command -v chromedriver)"
    export TESSERA_TEST_CHROMIUM TESSERA_TEST_CHROMEDRIVER
}
