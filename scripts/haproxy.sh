#!/usr/bin/env bash
# Makes Debian's HAProxy available for the load-balanced test (three instances on one
# PostgreSQL behind it) and exports its path as TESSERA_TEST_HAPROXY. Sourced by
# scripts/test.sh. The test runs its own haproxy from a temporary directory; the package's
# system service is not used.

ensure_haproxy() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    if [ ! -x /usr/sbin/haproxy ]; then
        echo "HAProxy not found: installing Debian's haproxy" >&2
        # Waits for the dpkg lock: another script may be installing at the same time. The
        # package would start its service on install; policy-rc.d exit 101 forbids that.
        local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -qq)
        local policy=/usr/sbin/policy-rc.d had_policy=""
        if [ -e "$policy" ]; then had_policy=1; fi
        if [ -z "$had_policy" ]; then printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy"; fi
        $sudo "${apt[@]}" install haproxy >&2 || {
            $sudo "${apt[@]}" update >&2
            $sudo "${apt[@]}" install haproxy >&2
        }
        if [ -z "$had_policy" ]; then $sudo rm -f "$policy"; fi
    fi
    TESSERA_TEST_HAPROXY=/usr/sbin/haproxy
    export TESSERA_TEST_HAPROXY
}
