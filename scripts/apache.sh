#!/usr/bin/env bash
# Makes Debian's Apache httpd and mod_auth_openidc available for the relying-party test and
# exports their paths (TESSERA_TEST_APACHE2: the httpd binary, TESSERA_TEST_APACHE_MODULES: the
# directory holding mod_auth_openidc.so and the stock modules). Sourced by scripts/test.sh.
#
# apache2-bin rather than apache2: the binary and modules without the system service, which
# would otherwise be enabled and started on port 80. The test runs its own httpd from a
# temporary directory (crates/server/tests/clients/mod_auth_openidc/httpd.conf.in).

ensure_apache() {
    local sudo="" modules=/usr/lib/apache2/modules
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    if [ ! -x /usr/sbin/apache2 ] || [ ! -f "$modules/mod_auth_openidc.so" ]; then
        echo "Apache not found: installing Debian's apache2-bin and libapache2-mod-auth-openidc" >&2
        # Waits for the dpkg lock: another script (browser.sh) may be installing at the same time.
        # (env: sudo would drop DEBIAN_FRONTEND from the environment.)
        local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -qq)
        local packages=(apache2-bin libapache2-mod-auth-openidc)
        $sudo "${apt[@]}" install "${packages[@]}" >&2 || {
            $sudo "${apt[@]}" update >&2
            $sudo "${apt[@]}" install "${packages[@]}" >&2
        }
    fi
    TESSERA_TEST_APACHE2=/usr/sbin/apache2
    TESSERA_TEST_APACHE_MODULES="$modules"
    export TESSERA_TEST_APACHE2 TESSERA_TEST_APACHE_MODULES
}
