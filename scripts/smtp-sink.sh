#!/usr/bin/env bash
# Prepares the Python tools of the tests (the SMTP sink the password reset tests mail to,
# crates/server/tests/smtp_sink.py on aiosmtpd; Prometheus's exposition parser; an OpenAPI
# validator) and exports the Python that runs them (TESSERA_TEST_PYTHON). Sourced by
# scripts/test.sh.
#
# Needs Python 3.8 or newer with its venv module (`python3 -m venv`). The packages come from
# PyPI, pinned in crates/server/tests/smtp_sink_requirements.txt, into a virtual environment
# under the cache directory (TESSERA_CACHE_DIR, by default ~/.cache/tessera), made again only
# when it is missing or older than that file.

ensure_smtp_sink() {
    local root requirements cache venv python
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    requirements="$root/crates/server/tests/smtp_sink_requirements.txt"
    cache="${TESSERA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera}"
    venv="$cache/smtp-sink-venv"
    python="$(command -v python3 || true)"
    if [ -z "$python" ]; then
        echo "Python 3 is needed for the SMTP sink of the password reset tests: install it first" >&2
        return 1
    fi
    # The marker is written last: a venv without it was not finished.
    if [ ! -f "$venv/.installed" ] || [ "$requirements" -nt "$venv/.installed" ]; then
        echo "Installing the tests' Python tools into $venv" >&2
        rm -rf "$venv"
        "$python" -m venv "$venv" >&2 || return 1
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            --requirement "$requirements" >&2 || return 1
        touch "$venv/.installed"
    fi
    TESSERA_TEST_PYTHON="$venv/bin/python"
    export TESSERA_TEST_PYTHON
}
