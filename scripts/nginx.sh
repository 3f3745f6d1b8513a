#!/usr/bin/env bash
# Makes Debian's nginx available for the mutual-TLS proxy test (nginx terminates TLS, asks for
# client certificates and passes them to Tessera in a header) and exports its path as
# TESSERA_TEST_NGINX. Sourced by scripts/test.sh. The test runs its own nginx from a temporary
# directory; the package's system service is not used.

ensure_nginx() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    if [ ! -x /usr/sbin/nginx ]; then
        echo "nginx not found: installing Debian's nginx-light" >&2
        # The package would start its service on install; policy-rc.d exit 101 forbids that.
        local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -qq)
        local policy=/usr/sbin/policy-rc.d had_policy=""
        if [ -e "$policy" ]; then had_policy=1; fi
        if [ -z "$had_policy" ]; then printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy"; fi
        $sudo "${apt[@]}" install nginx-light >&2 || {
            $sudo "${apt[@]}" update >&2
            $sudo "${apt[@]}" install nginx-light >&2
        }
        if [ -z "$had_policy" ]; then $sudo rm -f "$policy"; fi
    fi
    TESSERA_TEST_NGINX=/usr/sbin/nginx
    export TESSERA_TEST_NGINX
}
